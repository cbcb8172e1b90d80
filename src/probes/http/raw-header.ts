/**
 * The value of header `name` (lower case) in undici's raw header list (name, value, name, …), as
 * latin1 like undici's own parser; "" when it appears more than once — ambiguous, so as unusable
 * as a missing one; undefined when absent. Read off the raw list so a probe builds no headers
 * object per response.
 */
export function rawHeader(raw: readonly Buffer[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as Buffer;
    if (n.length !== name.length || n.toString("latin1").toLowerCase() !== name) continue;
    value = value === undefined ? (raw[i + 1] as Buffer).toString("latin1") : "";
  }
  return value;
}

import { type ActionOrigin, ALLOW, blocked, type GateResult, type QuarantineEntry } from "./types.js";

export interface QuarantineInput {
  deployment: string;
  touchedHosts: readonly string[];
  entries: readonly QuarantineEntry[];
  origin: ActionOrigin;
}

/**
 * `until` of a quarantine only an operator lifts (API reset): one NixGuard cannot end by
 * waiting, such as nixops4 refusing its command line (exit 2), which no retry would change.
 */
export const UNTIL_RESET = Date.UTC(9999, 11, 31, 23, 59, 59);

/** Quarantines still in force: an API reset deletes them, the cooldown expires them. */
export function activeQuarantines(entries: readonly QuarantineEntry[], now: number): QuarantineEntry[] {
  return entries.filter((q) => q.until > now);
}

/**
 * No automatic action touches a quarantined host or deployment. A deployment-wide apply touches
 * every host, so one quarantined host holds it too: re-applying is an action on that host.
 */
export function quarantineGate(input: QuarantineInput, now: number): GateResult {
  if (input.origin.manual) return ALLOW;
  const hit = activeQuarantines(input.entries, now).find(
    (q) => q.deployment === input.deployment && (q.host === undefined || input.touchedHosts.includes(q.host)),
  );
  if (!hit) return ALLOW;
  const what = hit.host ? `${hit.deployment}/${hit.host}` : hit.deployment;
  return blocked(
    "quarantine",
    `${what} quarantined ${hit.until >= UNTIL_RESET ? "until reset" : `until ${new Date(hit.until).toISOString()}`}: ${hit.reason}`,
    hit.until,
  );
}

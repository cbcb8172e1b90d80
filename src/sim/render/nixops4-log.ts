/**
 * nixops4's headless stderr: tracing-subscriber's default ("full") format without ANSI colour,
 * INFO level, span events NEW and CLOSE (rust/nixops4/src/logging/headless.rs):
 *
 *   2026-11-23T10:00:00.123456Z  INFO Applying composite:Applying resource{resource=fediversity.mastodon}: nixops4::work: new
 *
 * and the final error as `nixops4 error: {:?}` of an anyhow chain (main.rs handle_result), or a
 * Rust panic (exit 101).
 */

/** RFC 3339 with microseconds, as tracing's SystemTime timer prints it. */
export function tracingTime(ms: number, micros = Math.floor(performance.now() * 1000) % 1000): string {
  const iso = new Date(ms).toISOString(); // 2026-11-23T10:00:00.123Z
  return `${iso.slice(0, 23)}${String(micros).padStart(3, "0")}Z`;
}

export type Level = "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR";

export interface Span {
  name: string;
  fields?: string;
}

export function tracingLine(at: number, level: Level, spans: Span[], message: string): string {
  const scope = spans.map((s) => (s.fields ? `${s.name}{${s.fields}}` : s.name)).join(":");
  return `${tracingTime(at)} ${level.padStart(5)} ${scope ? `${scope}: ` : ""}nixops4::work: ${message}\n`;
}

export const COMPOSITE: Span = { name: "Applying composite" };
export const RESOLVING: Span = { name: "Resolving composite path" };
export const PREVIEWING: Span = { name: "Previewing composite" };
/** The resource span's field is the Debug form of its ComponentPath: `ComponentPath(["a", "b"])`. */
export const applyingResource = (path: readonly string[]): Span => ({
  name: "Applying resource",
  fields: `resource=ComponentPath([${path.map((p) => JSON.stringify(p)).join(", ")}])`,
});
export const creatingResource = (path: readonly string[]): Span => ({
  name: "creating resource",
  fields: `name="${path.join(".")}"`,
});

/** apply's preview, before any resource is touched (plain text on stderr). */
export const previewList = (paths: readonly string[]) =>
  `The following resources (and nested composites, if any) will be applied:\n${paths.map((p) => `  - ${p}\n`).join("")}`;

/** tracing's close event: `close time.busy=1.21ms time.idle=2.50s`. */
export function closeMessage(busyMs: number, idleMs: number): string {
  const fmt = (ms: number) => {
    if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
    if (ms >= 1) return `${ms.toFixed(2)}ms`;
    return `${(ms * 1000).toFixed(1)}µs`;
  };
  return `close time.busy=${fmt(busyMs)} time.idle=${fmt(idleMs)}`;
}

/** anyhow's `{:?}`: the outer context, then its causes (unnumbered when there is only one). */
export function anyhowDebug(chain: string[]): string {
  const [head, ...causes] = chain;
  if (causes.length === 0) return `${head}\n`;
  if (causes.length === 1) return `${head}\n\nCaused by:\n    ${causes[0]}\n`;
  return `${head}\n\nCaused by:\n${causes.map((c, i) => `    ${i}: ${c}`).join("\n")}\n`;
}

export const nixops4Error = (chain: string[]) => `nixops4 error: ${anyhowDebug(chain)}`;

export const rustPanic = (message: string) =>
  `\nthread 'main' panicked at rust/nixops4/src/work.rs:947:21:\n${message}\n` +
  "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

/** `nixops4 --help` of each CLI generation (clap's layout; the command list tells them apart). */
export function helpText(cli: "older" | "newer"): string {
  const commands =
    cli === "older"
      ? "  apply        Apply changes so that the resources are in the desired state\n  deployments  Commands that operate on all deployments\n  help         Print this message or the help of the given subcommand(s)\n"
      : "  apply    Apply changes so that the resources are in the desired state.\n  members  Commands that operate on component members\n  state    Commands that operate on deployment state\n  help     Print this message or the help of the given subcommand(s)\n";
  return `NixOps: manage resources declaratively\n\nUsage: nixops4 [OPTIONS] <COMMAND>\n\nCommands:\n${commands}\nOptions:\n  -v, --verbose\n      --color <COLOR>  [possible values: auto, always, never]\n      --interactive\n      --no-interactive\n      --show-trace\n  -h, --help           Print help\n  -V, --version        Print version\n`;
}

/** clap's usage error (exit 2). */
export const clapError = (message: string, usage = "nixops4 apply [OPTIONS] [PATH]...") =>
  `error: ${message}\n\nUsage: ${usage}\n\nFor more information, try '--help'.\n`;

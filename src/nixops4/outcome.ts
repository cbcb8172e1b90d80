import type { ActionOutcomeKind } from "../action.js";
import type { RunResult } from "../exec/run.js";

/**
 * How a finished nixops4 run is reported, from its exit status (never from whether its pipes
 * closed): 0 success; 1 an error (`nixops4 error: …` and an anyhow `Caused by:` chain, kept as
 * the reason); 2 a usage error (clap: a flag or argument nixops4 refuses — never worth a retry);
 * 101 a panic.
 */
export interface ApplyClassification {
  outcome: ActionOutcomeKind;
  message: string;
}

const lastLine = (s: string) =>
  s
    .trimEnd()
    .split("\n")
    .filter((l) => l.trim())
    .slice(-1)[0]
    ?.slice(0, 300) ?? "";

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * The last `nixops4 error:` of the output with its `Caused by:` chain on one line:
 * `nixops4 error: A; caused by: B; C`. Bounded to 1000 characters.
 */
export function errorChain(output: string): string | undefined {
  const lines = output.replace(ANSI, "").split("\n");
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--)
    if (lines[i]?.startsWith("nixops4 error:")) {
      start = i;
      break;
    }
  if (start < 0) return undefined;
  const head = (lines[start] ?? "").trim();
  const causes: string[] = [];
  let inCauses = false;
  for (const raw of lines.slice(start + 1)) {
    const l = raw.trim();
    if (l === "") continue;
    if (l === "Caused by:") {
      inCauses = true;
      continue;
    }
    // anyhow indents causes by four spaces, numbered when there are several.
    if (inCauses && /^\s{4}/.test(raw)) causes.push(l.replace(/^\d+: /, ""));
    else if (!inCauses) causes.push(l);
    else break;
  }
  const text = causes.length > 0 ? `${head}; caused by: ${causes.join("; ")}` : head;
  return text.slice(0, 1000);
}

/** clap's `error: …` line of a usage error. */
const usageLine = (output: string) =>
  output
    .replace(ANSI, "")
    .split("\n")
    .find((l) => l.startsWith("error: "))
    ?.slice(0, 300);

export function classifyApply(
  r: Pick<RunResult, "exitCode" | "signal" | "timedOut" | "aborted" | "stderrTail"> & {
    stdoutTail?: string;
  },
  timeoutMs: number,
  argv: readonly string[] = [],
): ApplyClassification {
  if (r.timedOut)
    return {
      outcome: "timeout",
      message: `nixops4 apply timed out after ${Math.round(timeoutMs / 1000)} s and was terminated`,
    };
  if (r.aborted) return { outcome: "cancelled", message: "nixops4 apply was stopped" };
  // The older CLI printed everything on stdout; errors and clap's usage always go to stderr.
  const output = `${r.stdoutTail ?? ""}\n${r.stderrTail}`;
  switch (r.exitCode) {
    case 0:
      return { outcome: "success", message: "nixops4 apply succeeded" };
    case 1:
      return {
        outcome: "failed",
        message: errorChain(output) ?? (lastLine(r.stderrTail) || "nixops4 apply failed (exit 1)"),
      };
    case 2:
      return {
        outcome: "usage-error",
        message: `nixops4 refused its command line (usage error, exit 2): ${argv.join(" ")}: ${usageLine(r.stderrTail) ?? lastLine(r.stderrTail)}`,
      };
    case 101:
      return { outcome: "panic", message: `nixops4 panicked (exit 101): ${lastLine(r.stderrTail)}` };
    case 127:
      return { outcome: "not-found", message: "nixops4 could not be executed (exit 127)" };
  }
  if (r.signal) return { outcome: "failed", message: `nixops4 apply was killed by ${r.signal}` };
  return { outcome: "failed", message: `nixops4 apply exited with ${r.exitCode}: ${lastLine(r.stderrTail)}` };
}

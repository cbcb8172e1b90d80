import { existsSync } from "node:fs";
import type { ActionOutcomeKind } from "../action.js";
import { nixops4ExtraArgs, nixops4Target } from "../config/grammar.js";
import { NixGuardError } from "../errors.js";
import { boundedEnv, resolveCommand } from "../exec/env.js";
import { type RunResult, runGuarded } from "../exec/run.js";

/**
 * `nixops4 apply` as NixGuard runs it: argv only, in the flake directory, through the exec
 * gateway (own process group, dies with NixGuard, timeout → SIGTERM → SIGKILL).
 */
export interface Nixops4Settings {
  command: string;
  timeout: number;
  killGrace: number;
  extraArgs: readonly string[];
}

export interface ApplyResult {
  outcome: ActionOutcomeKind;
  message: string;
  exitCode?: number;
  durationMs: number;
  stderrTail: string;
}

/** The argv after the command. Every value is re-checked here, at the last step before exec. */
export function applyArgv(target: string, extraArgs: readonly string[]): string[] {
  const bad = nixops4Target(target);
  if (bad) throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 target: ${bad}`);
  const badArg = nixops4ExtraArgs(extraArgs);
  if (badArg)
    throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 argument ${badArg.index}: ${badArg.message}`);
  // --no-interactive: nixops4 picks its TUI when stdin is a TTY; say it explicitly anyway.
  return ["apply", "--no-interactive", ...extraArgs, target];
}

const lastLine = (s: string) =>
  s
    .trimEnd()
    .split("\n")
    .filter((l) => l.trim())
    .slice(-1)[0]
    ?.slice(0, 300) ?? "";

/** Pure: how a finished run is reported. */
export function classifyApply(
  r: Pick<RunResult, "exitCode" | "signal" | "timedOut" | "aborted" | "stderrTail">,
  timeoutMs: number,
): {
  outcome: ActionOutcomeKind;
  message: string;
} {
  if (r.timedOut)
    return {
      outcome: "timeout",
      message: `nixops4 apply timed out after ${Math.round(timeoutMs / 1000)} s and was terminated`,
    };
  if (r.aborted) return { outcome: "cancelled", message: "nixops4 apply was stopped" };
  const errLine = r.stderrTail
    .split("\n")
    .reverse()
    .find((l) => l.includes("nixops4 error:"));
  switch (r.exitCode) {
    case 0:
      return { outcome: "success", message: "nixops4 apply succeeded" };
    case 1:
      return {
        outcome: "failed",
        message: (errLine ?? lastLine(r.stderrTail)).trim() || "nixops4 apply failed (exit 1)",
      };
    case 101:
      return { outcome: "panic", message: `nixops4 panicked (exit 101): ${lastLine(r.stderrTail)}` };
    case 127:
      return { outcome: "not-found", message: "nixops4 could not be executed (exit 127)" };
  }
  if (r.signal) return { outcome: "failed", message: `nixops4 apply was killed by ${r.signal}` };
  return { outcome: "failed", message: `nixops4 apply exited with ${r.exitCode}: ${lastLine(r.stderrTail)}` };
}

export interface RunApplyOptions {
  settings: Nixops4Settings;
  flakeDir: string;
  target: string;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  env?: NodeJS.ProcessEnv;
}

export async function runApply(opts: RunApplyOptions): Promise<ApplyResult> {
  const started = Date.now();
  const args = applyArgv(opts.target, opts.settings.extraArgs);
  const env = boundedEnv(opts.env ?? process.env);
  const command = resolveCommand(opts.settings.command, env["PATH"]);
  if (!command) {
    const where = opts.settings.command.includes("/")
      ? `${opts.settings.command} does not exist or is not executable`
      : `"${opts.settings.command}" is not on PATH`;
    return {
      outcome: "not-found",
      message: `nixops4 not found: ${where}; install nixops4 for the NixGuard service or set nixops4.command to its absolute path`,
      durationMs: Date.now() - started,
      stderrTail: "",
    };
  }
  if (!existsSync(opts.flakeDir)) {
    return {
      outcome: "failed",
      message: `flake directory ${opts.flakeDir} does not exist`,
      durationMs: 0,
      stderrTail: "",
    };
  }
  const p = runGuarded({
    command,
    args,
    cwd: opts.flakeDir,
    env,
    timeoutMs: opts.settings.timeout,
    killGraceMs: opts.settings.killGrace,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onStdout ? { onStdout: opts.onStdout } : {}),
    ...(opts.onStderr ? { onStderr: opts.onStderr } : {}),
    tailBytes: 16 * 1024,
  });
  const r = await p.result;
  const c = classifyApply(r, opts.settings.timeout);
  return {
    ...c,
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    durationMs: r.durationMs,
    stderrTail: r.stderrTail,
  };
}

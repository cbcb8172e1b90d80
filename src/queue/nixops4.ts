import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ActionOutcomeKind } from "../action.js";
import { boundedEnv, resolveCommand } from "../exec/env.js";
import { runGuarded } from "../exec/run.js";
import { applyArgv, type Nixops4Globals } from "../nixops4/argv.js";
import { classifyApply } from "../nixops4/outcome.js";
import type { Nixops4Ssh } from "../nixops4/ssh-env.js";

/**
 * `nixops4 apply` as NixGuard runs it: argv only, in the deployment's directory, through the
 * exec gateway (own process group, dies with NixGuard; stop: SIGINT → SIGTERM → SIGKILL).
 */
export interface Nixops4Settings {
  command: string;
  timeout: number;
  /** SIGINT → SIGTERM (nixops4 handles SIGINT only). */
  interruptGrace: number;
  /** SIGTERM → SIGKILL. */
  killGrace: number;
  /** nixops4 exited → its process group is killed. */
  stragglerGrace: number;
  extraArgs: readonly string[];
  file?: string | undefined;
  /** nixops4's own ssh: identity and known_hosts (nixops4/ssh-env.ts). */
  ssh?: Nixops4Ssh;
}

export interface ApplyResult {
  outcome: ActionOutcomeKind;
  message: string;
  exitCode?: number;
  durationMs: number;
  stderrTail: string;
}

export interface RunApplyOptions {
  settings: Nixops4Settings;
  flakeDir: string;
  target: string;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  env?: NodeJS.ProcessEnv;
  /** Added to the bounded environment after it is built (nixops4's own ssh, see ssh-env.ts). */
  extraEnv?: Record<string, string>;
}

const failed = (message: string, started: number): ApplyResult => ({
  outcome: "failed",
  message,
  durationMs: Date.now() - started,
  stderrTail: "",
});

export async function runApply(opts: RunApplyOptions): Promise<ApplyResult> {
  const started = Date.now();
  const globals: Nixops4Globals = {
    extraArgs: opts.settings.extraArgs,
    ...(opts.settings.file !== undefined ? { file: opts.settings.file } : {}),
  };
  const env = { ...boundedEnv(opts.env ?? process.env), ...opts.extraEnv };
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
  if (!existsSync(opts.flakeDir)) return failed(`flake directory ${opts.flakeDir} does not exist`, started);
  // nixops4 takes nixops4.nix in its working directory before the flake, and refuses
  // --override-input then: say so here rather than through a usage error.
  if (
    globals.file === undefined &&
    globals.extraArgs.includes("--override-input") &&
    existsSync(join(opts.flakeDir, "nixops4.nix"))
  )
    return failed(
      `${opts.flakeDir} has a nixops4.nix, so nixops4 runs in file mode, where --override-input is refused: remove it from nixops4.extraArgs`,
      started,
    );
  const args = applyArgv(opts.target, globals);
  const p = runGuarded({
    command,
    args,
    cwd: opts.flakeDir,
    env,
    timeoutMs: opts.settings.timeout,
    interruptGraceMs: opts.settings.interruptGrace,
    killGraceMs: opts.settings.killGrace,
    stragglerGraceMs: opts.settings.stragglerGrace,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onStdout ? { onStdout: opts.onStdout } : {}),
    ...(opts.onStderr ? { onStderr: opts.onStderr } : {}),
    tailBytes: 16 * 1024,
  });
  const r = await p.result;
  const c = classifyApply(r, opts.settings.timeout, [opts.settings.command, ...args]);
  return {
    ...c,
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    durationMs: r.durationMs,
    stderrTail: r.stderrTail,
  };
}

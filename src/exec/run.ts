import { execa } from "execa";
import { CommandError } from "../errors.js";
import { GUARD_SOURCE } from "./guard.js";
import { TailBuffer } from "./tail.js";

/**
 * The single gateway for long child processes (renovate's habit: one place spawns, so one
 * place guarantees the rules). Every child:
 * - runs in its own process group under the guard (guard.ts), so it dies with NixGuard even
 *   when NixGuard is SIGKILLed;
 * - gets argv only (never a shell), stdin from /dev/null (never a TTY), the env it is given;
 * - on timeout or abort: SIGTERM to the whole group, SIGKILL after `killGraceMs`;
 * - has its output streamed to callbacks while only a bounded tail is kept in memory.
 */
export interface RunOptions {
  /** Absolute path of the program (resolve it with resolveCommand first). */
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
  killGraceMs: number;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Bytes of stdout and of stderr kept for the result (default 64 KiB each). */
  tailBytes?: number;
}

export interface RunResult {
  pid: number;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  aborted: boolean;
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
}

export interface RunningProcess {
  /** Process group id (the guard's pid). */
  readonly pgid: number;
  readonly result: Promise<RunResult>;
  /** SIGTERM the group now, SIGKILL after the grace. Idempotent. */
  terminate(): void;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

export function runGuarded(opts: RunOptions): RunningProcess {
  const started = Date.now();
  const tailBytes = opts.tailBytes ?? 64 * 1024;
  const stdoutTail = new TailBuffer(tailBytes);
  const stderrTail = new TailBuffer(tailBytes);
  const argv = ["-e", GUARD_SOURCE, "--", String(opts.killGraceMs), opts.command, ...opts.args];
  const child = execa(process.execPath, argv, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    // fd 3 is the life line: NixGuard's end closes only when NixGuard is gone.
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    detached: true,
    buffer: false,
    reject: false,
    cleanup: false,
    stripFinalNewline: false,
  });
  const pgid = child.pid;
  if (pgid === undefined) {
    throw new CommandError("COMMAND_FAILED", "could not start the process guard", {
      argv: [opts.command, ...opts.args],
    });
  }
  child.stdout?.on("data", (b: Buffer) => {
    stdoutTail.push(b);
    opts.onStdout?.(b);
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderrTail.push(b);
    opts.onStderr?.(b);
  });

  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  let exited = false;
  const terminate = () => {
    if (killTimer || exited) return;
    signalGroup(pgid, "SIGTERM");
    killTimer = setTimeout(() => signalGroup(pgid, "SIGKILL"), opts.killGraceMs);
  };
  const timeoutTimer =
    opts.timeoutMs !== undefined && opts.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          terminate();
        }, opts.timeoutMs)
      : undefined;
  const onAbort = () => {
    aborted = true;
    terminate();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  const result = (async (): Promise<RunResult> => {
    const r = await child;
    exited = true;
    // Stragglers (a background ssh, a nix build) left in the group go with their parent.
    signalGroup(pgid, "SIGKILL");
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (killTimer) clearTimeout(killTimer);
    opts.signal?.removeEventListener("abort", onAbort);
    return {
      pid: pgid,
      exitCode: r.exitCode ?? undefined,
      signal: r.signal ?? undefined,
      timedOut,
      aborted,
      stdoutTail: stdoutTail.toString(),
      stderrTail: stderrTail.toString(),
      durationMs: Date.now() - started,
    };
  })();
  return { pgid, result, terminate };
}

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
 * - on timeout or abort: the stop sequence to the whole group — SIGINT first when
 *   `interruptGraceMs` is set (nixops4 handles SIGINT only; SIGTERM kills it with no cleanup),
 *   then SIGTERM, then SIGKILL after `killGraceMs`;
 * - is done when its main process exits: the outcome is that exit status. Stragglers it left
 *   in the group (a background ssh holding stdout) get `stragglerGraceMs`, then the group is
 *   SIGKILLed — they never turn a finished run into a timeout, nor hold a lock or a slot;
 * - has its output streamed to callbacks while only a bounded tail is kept in memory.
 */
export interface RunOptions {
  /** Absolute path of the program (resolve it with resolveCommand first). */
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
  /** Set: the stop sequence starts with SIGINT and SIGTERM follows after this long. */
  interruptGraceMs?: number;
  /** SIGTERM → SIGKILL. */
  killGraceMs: number;
  /** After the main process exited, how long the rest of its group may live (default 2 s). */
  stragglerGraceMs?: number;
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
  /** The signals the stop sequence sent to the group, in order (empty when it ran to its end). */
  stopSignals: NodeJS.Signals[];
  /** Processes were still in the group when the main one exited, and were killed. */
  stragglersKilled: boolean;
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
}

export interface RunningProcess {
  /** Process group id (the guard's pid). */
  readonly pgid: number;
  readonly result: Promise<RunResult>;
  /** Start the stop sequence (SIGINT →) SIGTERM → SIGKILL. Idempotent. */
  terminate(): void;
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: the group is already gone.
    return false;
  }
}

const DEFAULT_STRAGGLER_GRACE_MS = 2000;

export function runGuarded(opts: RunOptions): RunningProcess {
  const started = Date.now();
  const tailBytes = opts.tailBytes ?? 64 * 1024;
  const stdoutTail = new TailBuffer(tailBytes);
  const stderrTail = new TailBuffer(tailBytes);
  const interruptMs = opts.interruptGraceMs ?? 0;
  const argv = [
    "-e",
    GUARD_SOURCE,
    "--",
    String(interruptMs),
    String(opts.killGraceMs),
    opts.command,
    ...opts.args,
  ];
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
  let stopping = false;
  let exited = false;
  let stragglersKilled = false;
  const stopSignals: NodeJS.Signals[] = [];
  const timers: NodeJS.Timeout[] = [];
  const later = (ms: number, f: () => void) => timers.push(setTimeout(f, ms));
  const send = (signal: NodeJS.Signals) => {
    if (exited) return;
    stopSignals.push(signal);
    signalGroup(pgid, signal);
  };
  const terminate = () => {
    if (stopping || exited) return;
    stopping = true;
    const term = () => {
      send("SIGTERM");
      later(opts.killGraceMs, () => send("SIGKILL"));
    };
    if (interruptMs > 0) {
      send("SIGINT");
      later(interruptMs, term);
    } else term();
  };
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0)
    later(opts.timeoutMs, () => {
      timedOut = true;
      terminate();
    });
  const onAbort = () => {
    aborted = true;
    terminate();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  // The main process' status, as soon as it exits — not when its pipes close, which a
  // straggler holding stdout can put off for ever.
  const exitStatus = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const result = (async (): Promise<RunResult> => {
    const status = await exitStatus;
    exited = true;
    for (const t of timers) clearTimeout(t);
    opts.signal?.removeEventListener("abort", onAbort);
    // Stragglers (a background ssh, a nix build) left in the group get a short grace, then go
    // with their parent. The pipes close once the last holder is gone.
    const grace = opts.stragglerGraceMs ?? DEFAULT_STRAGGLER_GRACE_MS;
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, grace);
    });
    const drained = await Promise.race([child.then(() => true), graceOver.then(() => false)]);
    if (graceTimer) clearTimeout(graceTimer);
    if (!drained || signalGroup(pgid, 0)) {
      stragglersKilled = signalGroup(pgid, "SIGKILL") || !drained;
      await child;
    }
    return {
      pid: pgid,
      exitCode: status.code ?? undefined,
      signal: status.signal ?? undefined,
      timedOut,
      aborted,
      stopSignals,
      stragglersKilled,
      stdoutTail: stdoutTail.toString(),
      stderrTail: stderrTail.toString(),
      durationMs: Date.now() - started,
    };
  })();
  return { pgid, result, terminate };
}

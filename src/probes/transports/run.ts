import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { CommandError, isNixGuardError, type NixGuardError, ProbeError } from "../../errors.js";
import type { Abortable } from "../cancel.js";

/**
 * The one gateway through which probes start child processes (ssh, sh, systemctl). argv only, no
 * local shell. Each child gets its own process group so an abort kills it and everything it
 * started (`sh -c` forks systemctl, df, ...): a timed-out probe leaves no process and no pipe.
 *
 * Plain node:child_process rather than execa: a probe spawns once per host per cycle, and execa's
 * per-spawn machinery (stream plumbing, option normalisation, result object) cost about as much
 * CPU as the fork itself (bench/ssh-transport.ts). Nothing here needs what execa adds.
 */
export interface RunOptions {
  signal: Abortable;
  /** The child's whole environment (not merged with ours); ours when absent. */
  env?: Record<string, string>;
  /** Caps captured stdout and stderr (each); a remote flooding output is an error, not an OOM. */
  maxBuffer?: number;
}

export interface RunResult {
  argv: readonly string[];
  stdout: string;
  stderr: string;
  exitCode: number;
}

const STDERR_TAIL = 2000;
const DEFAULT_MAX_BUFFER = 4 * 1024 * 1024;

export const stderrTail = (s: string) => (s.length > STDERR_TAIL ? s.slice(-STDERR_TAIL) : s).trim();

/** The abort reason as a NixGuardError (PROBE_TIMEOUT unless the aborter said otherwise). */
export function abortError(signal: Abortable, what: string): NixGuardError {
  const reason: unknown = signal.reason;
  if (isNixGuardError(reason)) return reason;
  return new ProbeError("PROBE_TIMEOUT", `${what}: aborted (timeout)`, { cause: reason });
}

/** Collects one output pipe up to `limit` bytes; past it, `overflow` says so and the rest is dropped. */
class Capture {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  overflow = false;
  constructor(private readonly limit: number) {}
  /** Returns false when this chunk overflowed the limit. */
  push(chunk: Buffer): boolean {
    if (this.overflow) return false;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.overflow = true;
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }
  text(): string {
    return this.chunks.length === 1
      ? this.chunks[0]!.toString("utf8")
      : Buffer.concat(this.chunks).toString("utf8");
  }
}

export function runCommand(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const argv = [file, ...args];
  const { signal } = opts;
  if (signal.aborted) return Promise.reject(abortError(signal, file));
  const maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;

  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn(file, args, {
      // No stdin: a probe never reads ours. Never a shell: argv goes to execve as is.
      stdio: ["ignore", "pipe", "pipe"],
      shell: false,
      detached: true,
      ...(opts.env ? { env: opts.env } : {}),
    });
  } catch (e) {
    // Node refuses some argv synchronously (a NUL byte): same code as any other failed start.
    const message = e instanceof Error ? e.message : String(e);
    return Promise.reject(new CommandError("COMMAND_FAILED", `${file}: ${message}`, { argv }, { cause: e }));
  }

  return new Promise<RunResult>((resolve, reject) => {
    const stdout = new Capture(maxBuffer);
    const stderr = new Capture(maxBuffer);
    let done = false;

    const dropPipes = () => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const kill = () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone: nothing to kill.
        }
      }
      // An ssh multiplexing client hands its stdio to the ControlMaster, which is not in the group
      // and keeps writing into our pipes while the remote command hangs: drop our ends too.
      dropPipes();
    };
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", kill);
      settle();
    };
    const onData = (capture: Capture) => (chunk: Buffer) => {
      if (!capture.push(chunk)) kill();
    };

    child.stdout.on("data", onData(stdout));
    child.stderr.on("data", onData(stderr));
    // A pipe that breaks (or that kill destroyed) ends the output; the exit still settles the call.
    child.stdout.on("error", () => {});
    child.stderr.on("error", () => {});
    signal.addEventListener("abort", kill, { once: true });

    // Only a failed spawn (ENOENT, EACCES, ...) lands here: we never signal through child.kill.
    child.on("error", (e: NodeJS.ErrnoException) => {
      dropPipes();
      finish(() =>
        reject(
          e.code === "ENOENT"
            ? new CommandError("COMMAND_NOT_FOUND", `${file}: command not found`, { argv }, { cause: e })
            : new CommandError("COMMAND_FAILED", `${file}: ${e.message}`, { argv }, { cause: e }),
        ),
      );
    });

    // `close` comes after the exit and both pipes' end: the output is complete and the child reaped.
    child.on("close", (code: number | null, killedBy: NodeJS.Signals | null) => {
      finish(() => {
        if (signal.aborted) return reject(abortError(signal, file));
        const err = stderr.text();
        if (stdout.overflow || stderr.overflow) {
          return reject(
            new CommandError("COMMAND_FAILED", `${file}: output exceeds ${maxBuffer} bytes`, {
              argv,
              stderrTail: stderrTail(err),
            }),
          );
        }
        if (code === null) {
          return reject(
            new CommandError("COMMAND_FAILED", `${file}: killed by ${killedBy ?? "a signal"}`, {
              argv,
              signal: killedBy ?? undefined,
              stderrTail: stderrTail(err),
            }),
          );
        }
        resolve({ argv, stdout: stdout.text(), stderr: err, exitCode: code });
      });
    });
  });
}

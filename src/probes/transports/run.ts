import { execa } from "execa";
import { CommandError, isNixGuardError, type NixGuardError, ProbeError } from "../../errors.js";

/**
 * The one gateway through which probes start child processes (ssh, sh, systemctl). argv only, no
 * local shell. Each child gets its own process group so an abort kills it and everything it
 * started (`sh -c` forks systemctl, df, ...): a timed-out probe leaves no process and no pipe.
 */
export interface RunOptions {
  signal: AbortSignal;
  env?: Record<string, string>;
  /** Caps captured stdout/stderr; a remote flooding output is an error, not an OOM. */
  maxBuffer?: number;
}

export interface RunResult {
  argv: readonly string[];
  stdout: string;
  stderr: string;
  exitCode: number;
}

const STDERR_TAIL = 2000;

export const stderrTail = (s: string) => (s.length > STDERR_TAIL ? s.slice(-STDERR_TAIL) : s).trim();

/** The abort reason as a NixGuardError (PROBE_TIMEOUT unless the aborter said otherwise). */
export function abortError(signal: AbortSignal, what: string): NixGuardError {
  const reason: unknown = signal.reason;
  if (isNixGuardError(reason)) return reason;
  return new ProbeError("PROBE_TIMEOUT", `${what}: aborted (timeout)`, { cause: reason });
}

export async function runCommand(
  file: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<RunResult> {
  const argv = [file, ...args];
  if (opts.signal.aborted) throw abortError(opts.signal, file);
  const child = execa(file, args, {
    reject: false,
    stdin: "ignore",
    detached: true,
    // execa never cleans up detached children anyway; skipping its exit hook saves ~0.6 ms a spawn.
    cleanup: false,
    stripFinalNewline: false,
    maxBuffer: opts.maxBuffer ?? 4 * 1024 * 1024,
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
  });
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
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  opts.signal.addEventListener("abort", kill, { once: true });
  try {
    const r = await child;
    if (opts.signal.aborted) throw abortError(opts.signal, file);
    const stdout = String(r.stdout ?? "");
    const stderr = String(r.stderr ?? "");
    if (r.failed && r.exitCode === undefined) {
      const code = (r.cause as { code?: string } | undefined)?.code;
      if (code === "ENOENT") {
        throw new CommandError("COMMAND_NOT_FOUND", `${file}: command not found`, { argv });
      }
      if (r.isMaxBuffer) {
        throw new CommandError(
          "COMMAND_FAILED",
          `${file}: output exceeds ${opts.maxBuffer ?? 4194304} bytes`,
          {
            argv,
            stderrTail: stderrTail(stderr),
          },
        );
      }
      throw new CommandError("COMMAND_FAILED", `${file}: ${r.shortMessage}`, {
        argv,
        signal: r.signal,
        stderrTail: stderrTail(stderr),
      });
    }
    return { argv, stdout, stderr, exitCode: r.exitCode ?? 0 };
  } finally {
    opts.signal.removeEventListener("abort", kill);
  }
}

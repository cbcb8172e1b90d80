import { type ChildProcessByStdio, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { CommandError, ProbeError } from "../../errors.js";
import type { Abortable } from "../cancel.js";
import { abortError, stderrTail } from "./run.js";

/**
 * One long-lived `ssh HOST sh` whose remote shell reads NixGuard's command lines from stdin, one
 * request at a time, instead of one ssh client process per probe (bench/ssh-transport.ts: the
 * per-probe spawn was most of the cost).
 *
 * What the remote shell runs is exactly what the per-probe transport passes as ssh's remote
 * command: a line from NixGuard's fixed builders (src/probes/systemd/command.ts), unit names
 * re-validated there. Each request is framed as
 *
 *     (LINE
 *     ) </dev/null; printf '\n%s %s\n' NONCE "$?"; printf '\n%s\n' NONCE >&2
 *
 * The subshell keeps a line's `exit`, `cd` or variables from touching the session; `</dev/null`
 * keeps it from reading the next request off the session's stdin. NONCE is 128 random bits fresh
 * per request, so nothing the remote prints can fake the end of its own output.
 *
 * A line that only runs programs and `echo` (the probe line: command.ts, its test holds it to
 * that) cannot change the session shell's state, and is sent as `{ LINE\n} </dev/null` instead:
 * the session shell runs it itself, without forking a subshell per request (a fork of the shell
 * was a quarter of the session's transport cost, bench/ssh-transport.ts).
 *
 * Any failure (ssh exits, a timeout, output past the cap) kills the ssh process group and marks
 * the session dead; the pool (SshSessionPool) starts a new one for the next request.
 */
export interface SessionResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

interface Pending {
  /** `\nNONCE ` then the status and a newline end stdout; `\nNONCE\n` ends stderr. */
  stdoutEnd: Buffer;
  stderrEnd: Buffer;
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number | undefined;
  stderrDone: boolean;
  resolve: (r: SessionResult) => void;
  reject: (e: Error) => void;
}

const NONCE_BYTES = 16;

export class SshSession {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private pending: Pending | undefined;
  /** stderr ssh wrote while no request was running (connection errors come before the first). */
  private stray = Buffer.alloc(0);
  private dead = false;
  private exited = false;
  private readonly exitedPromise: Promise<void>;
  /** Requests this session has completed; a failure on a used session is worth one retry. */
  completed = 0;

  constructor(
    private readonly command: string,
    args: readonly string[],
    private readonly address: string,
    private readonly maxBuffer: number,
  ) {
    this.child = spawn(command, [...args, "--", address, "sh"], {
      stdio: ["pipe", "pipe", "pipe"],
      shell: false,
      // Own process group: a kill takes ssh and anything it started.
      detached: true,
    });
    this.exitedPromise = new Promise((resolve) => {
      this.child.once("close", (code) => {
        this.exited = true;
        this.dead = true;
        this.fail(code);
        resolve();
      });
    });
    this.child.on("error", (e: NodeJS.ErrnoException) => {
      this.kill();
      const p = this.take();
      if (!p) return;
      p.reject(
        e.code === "ENOENT"
          ? new CommandError("COMMAND_NOT_FOUND", `${command}: command not found`, { argv: [command] })
          : new CommandError("COMMAND_FAILED", `${command}: ${e.message}`, { argv: [command] }),
      );
    });
    this.child.stdin.on("error", () => {});
    this.child.stdout.on("error", () => {});
    this.child.stderr.on("error", () => {});
    this.child.stdout.on("data", (chunk: Buffer) => this.onStdout(chunk));
    this.child.stderr.on("data", (chunk: Buffer) => this.onStderr(chunk));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.dead;
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** `isolate` false: `remote` runs in the session shell itself (only for lines that cannot touch it). */
  run(remote: string, signal: Abortable, isolate = true): Promise<SessionResult> {
    if (this.pending) throw new Error("ssh session: one request at a time");
    if (signal.aborted) return Promise.reject(abortError(signal, this.command));
    if (this.dead) return Promise.reject(this.endedError(""));
    const nonce = randomBytes(NONCE_BYTES).toString("hex");
    return new Promise<SessionResult>((resolve, reject) => {
      const onAbort = () => {
        this.kill();
        const p = this.take();
        p?.reject(abortError(signal, `${this.address}: ssh session`));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const done =
        <T>(settle: (v: T) => void) =>
        (v: T) => {
          signal.removeEventListener("abort", onAbort);
          settle(v);
        };
      this.pending = {
        stdoutEnd: Buffer.from(`\n${nonce} `),
        stderrEnd: Buffer.from(`\n${nonce}\n`),
        stdout: Buffer.alloc(0),
        stderr: this.stray,
        exitCode: undefined,
        stderrDone: false,
        resolve: done(resolve),
        reject: done(reject),
      };
      this.stray = Buffer.alloc(0);
      const [open, close] = isolate ? ["(", ")"] : ["{ ", "}"];
      this.child.stdin.write(
        `${open}${remote}\n${close} </dev/null; printf '\\n%s %s\\n' '${nonce}' "$?"; printf '\\n%s\\n' '${nonce}' >&2\n`,
      );
    });
  }

  /** Appends to one stream of the request in flight; where its end marker starts, or -1. */
  private append(p: Pending, stream: "stdout" | "stderr", chunk: Buffer, marker: Buffer): number {
    // The marker may straddle two chunks: search from just before the new one.
    const from = Math.max(0, p[stream].length - marker.length);
    p[stream] = Buffer.concat([p[stream], chunk]);
    if (p[stream].length > this.maxBuffer) {
      this.overflow();
      return -1;
    }
    return p[stream].indexOf(marker, from);
  }

  private onStdout(chunk: Buffer): void {
    const p = this.pending;
    if (!p) return; // Nothing is asked: output outside a frame is ignored.
    const at = this.append(p, "stdout", chunk, p.stdoutEnd);
    if (at < 0) return;
    const status = at + p.stdoutEnd.length;
    const eol = p.stdout.indexOf("\n", status);
    if (eol < 0) return;
    p.exitCode = Number(p.stdout.subarray(status, eol).toString("latin1"));
    p.stdout = p.stdout.subarray(0, at);
    this.settleIfDone();
  }

  private onStderr(chunk: Buffer): void {
    const p = this.pending;
    if (!p) {
      this.stray = Buffer.concat([this.stray, chunk]).subarray(-4096);
      return;
    }
    const at = this.append(p, "stderr", chunk, p.stderrEnd);
    if (at < 0) return;
    p.stderr = p.stderr.subarray(0, at);
    p.stderrDone = true;
    this.settleIfDone();
  }

  private settleIfDone(): void {
    const p = this.pending;
    if (!p || p.exitCode === undefined || !p.stderrDone) return;
    this.pending = undefined;
    this.completed++;
    p.resolve({ stdout: p.stdout.toString("utf8"), stderr: p.stderr.toString("utf8"), exitCode: p.exitCode });
  }

  private overflow(): void {
    this.kill();
    this.take()?.reject(
      new CommandError("COMMAND_FAILED", `${this.address}: output exceeds ${this.maxBuffer} bytes`, {
        argv: [this.command],
      }),
    );
  }

  private take(): Pending | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }

  private endedError(stderr: string): ProbeError {
    return new ProbeError(
      "PROBE_UNREACHABLE",
      `${this.address}: ssh session ended: ${stderrTail(stderr) || "no error output"}`,
    );
  }

  /** ssh exited: the request in flight (if any) fails with what ssh said. */
  private fail(code: number | null): void {
    const p = this.take();
    if (!p) return;
    const stderr = Buffer.concat([p.stderr, this.stray]).toString("utf8");
    const err = this.endedError(stderr);
    (err as { sshExitCode?: number | null }).sshExitCode = code;
    p.reject(Object.assign(err, { sshStderr: stderr }));
  }

  /** SIGKILL to ssh's process group; the remote shell sees its channel close. */
  kill(): void {
    this.dead = true;
    if (!this.exited && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    this.child.stdin.destroy();
  }

  /** Ends the remote shell (EOF on its stdin) and waits for ssh to exit; killed after `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    this.dead = true;
    if (!this.exited) {
      this.child.stdin.end();
      const timer = setTimeout(() => this.kill(), graceMs);
      await this.exitedPromise;
      clearTimeout(timer);
    }
  }
}

/** The stderr ssh printed before a session ended (for sshFailure's classification), if it did. */
export function sessionStderr(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "sshStderr" in e
    ? String((e as { sshStderr: unknown }).sshStderr)
    : undefined;
}

/**
 * Sessions to one host. Normally one: a probe takes the idle session and gives it back. A request
 * that arrives while another runs (a restart during a probe) gets a session of its own, so a long
 * `systemctl restart` never makes a probe wait; at most one idle session is kept.
 */
export class SshSessionPool {
  private idle: SshSession | undefined;
  private readonly all = new Set<SshSession>();
  private closed = false;

  constructor(private readonly open: () => SshSession) {}

  /** Runs `remote` on an idle or new session; a used session that turns out dead is replaced once. */
  async run(remote: string, signal: Abortable, isolate = true): Promise<SessionResult> {
    if (this.closed) throw new ProbeError("PROBE_UNREACHABLE", "ssh transport closed");
    const session = this.take();
    try {
      return await this.attempt(session, remote, signal, isolate);
    } catch (e) {
      // A session that served before and then ended (the host rebooted, the connection broke while
      // idle) is stale, not proof the host is down: reconnect once.
      const stale = session.completed > 0 && e instanceof ProbeError && e.code === "PROBE_UNREACHABLE";
      if (!stale || signal.aborted || this.closed) throw e;
      return await this.attempt(this.take(), remote, signal, isolate);
    }
  }

  private async attempt(
    session: SshSession,
    remote: string,
    signal: Abortable,
    isolate: boolean,
  ): Promise<SessionResult> {
    try {
      const r = await session.run(remote, signal, isolate);
      this.release(session);
      return r;
    } catch (e) {
      this.drop(session);
      throw e;
    }
  }

  private take(): SshSession {
    const s = this.idle;
    this.idle = undefined;
    if (s?.alive) return s;
    if (s) this.drop(s);
    const fresh = this.open();
    this.all.add(fresh);
    return fresh;
  }

  private release(s: SshSession): void {
    if (!this.closed && s.alive && !this.idle) {
      this.idle = s;
      return;
    }
    this.all.delete(s);
    void s.close();
  }

  private drop(s: SshSession): void {
    s.kill();
    this.all.delete(s);
  }

  /** PIDs of the ssh processes this pool holds (tests, the benchmark). */
  pids(): number[] {
    return [...this.all].map((s) => s.pid).filter((p): p is number => p !== undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle = undefined;
    await Promise.all([...this.all].map((s) => s.close()));
    this.all.clear();
  }
}

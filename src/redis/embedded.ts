import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { NixGuardError } from "../errors.js";
import { boundedEnv, resolveCommand } from "../exec/env.js";
import { type RunResult, runGuarded } from "../exec/run.js";
import type { Logger } from "../log.js";
import { createRedis } from "./connection.js";

/**
 * The default when no `redis.url` is configured: a private redis-server owned by this NixGuard,
 * listening only on a unix socket (mode 700) under the state directory, with its append-only
 * file beside it, so jobs and policy state survive restarts. It runs under the exec guard, so
 * it goes down with NixGuard even after a SIGKILL (SIGTERM first: Redis flushes its AOF).
 *
 * Supervised: a redis-server that dies is started again on the same socket (every client
 * reconnects by itself) after a backoff doubling from `restartDelayMs`. One that keeps dying —
 * more than `maxRestarts` exits within `restartWindowMs` — is given up on: `onGiveUp` is called,
 * and the manager exits with EX_UNAVAILABLE (69) so the service manager restarts NixGuard, rather
 * than staying up and inert while nothing can be planned or queued.
 */
export interface EmbeddedRedis {
  url: string;
  /** The current redis-server's pid (a restart changes it). */
  readonly pid: number;
  status(): EmbeddedRedisStatus;
  stop(): Promise<void>;
}

export interface EmbeddedRedisStatus {
  state: "running" | "restarting" | "given-up" | "stopped";
  /** Restarts after an unexpected exit since NixGuard started. */
  restarts: number;
  /** How the last redis-server that died ended, when one did. */
  lastExit?: string;
  /** What happens when it dies: restarted with backoff, NixGuard exits when it keeps dying. */
  policy: string;
}

export interface EmbeddedRedisOptions {
  stateDir: string;
  logger: Logger;
  /** Test seam: the environment whose PATH is searched. */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** First restart delay, doubled per exit within the window (default 500 ms, at most 30 s). */
  restartDelayMs?: number;
  /** Exits within `restartWindowMs` beyond which it is given up on (default 5 in 60 s). */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** It keeps dying: the caller ends NixGuard (the manager exits 69). */
  onGiveUp?: (err: NixGuardError) => void;
}

// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;
const MAX_RESTART_DELAY_MS = 30_000;

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const env = boundedEnv(opts.env ?? process.env);
  const command = resolveCommand("redis-server", env["PATH"]);
  if (!command) {
    throw new NixGuardError(
      "REDIS_NOT_INSTALLED",
      "redis-server is not on PATH, and no redis.url is configured. Either install redis-server " +
        "(Debian: apt install redis-server; the NixOS module sets redis.url to a Redis it runs), or set " +
        "redis.url to a Redis NixGuard can use (redis://host:6379/0, rediss://…, unix:///run/redis/redis.sock).",
    );
  }
  const dir = join(opts.stateDir, "redis");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, "redis.sock");
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new NixGuardError("CONFIG_INVALID", `state directory path too long for a unix socket: ${socket}`);
  }
  const log = opts.logger.child({ component: "embedded-redis" });
  const spawn = (): Running => spawnRedis(command, dir, socket, env);
  const first = spawn();
  await first.ready(opts.readyTimeoutMs ?? 15_000);
  const url = `unix://${socket}`;
  const supervisor = new Supervisor(
    spawn,
    url,
    log,
    opts,
    first,
    await serverPid(url).catch(() => first.pgid),
  );
  // A normal exit (even an uncaught exception) still stops Redis cleanly.
  const onExit = () => supervisor.terminate();
  process.once("exit", onExit);
  log.info({ socket, pid: supervisor.pid }, "embedded redis-server started");
  return {
    url,
    get pid() {
      return supervisor.pid;
    },
    status: () => supervisor.status(),
    stop: async () => {
      process.off("exit", onExit);
      await supervisor.stop();
    },
  };
}

interface Running {
  pgid: number;
  result: Promise<RunResult>;
  terminate(): void;
  /** Resolves once it accepts connections; rejects (and ends it) when it exits or times out first. */
  ready(timeoutMs: number): Promise<void>;
}

function spawnRedis(
  command: string,
  dir: string,
  socket: string,
  env: ReturnType<typeof boundedEnv>,
): Running {
  let output = "";
  let onReady: () => void = () => {};
  const readySeen = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const proc = runGuarded({
    command,
    // No TCP port at all; only the owner of the state directory can reach the socket.
    args: [
      "--port",
      "0",
      "--unixsocket",
      socket,
      "--unixsocketperm",
      "700",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--daemonize",
      "no",
    ],
    cwd: dir,
    env,
    killGraceMs: 10_000,
    tailBytes: 8192,
    onStdout: (b) => {
      if (output.length < 16_384) output += b.toString();
      if (/ready to accept connections/i.test(output)) onReady();
    },
  });
  return {
    pgid: proc.pgid,
    result: proc.result,
    terminate: () => proc.terminate(),
    ready: async (timeoutMs) => {
      const exitedEarly = proc.result.then((r) => {
        throw new NixGuardError(
          "REDIS_UNAVAILABLE",
          `embedded redis-server exited during start (${describeExit(r)}): ${(r.stdoutTail + r.stderrTail).trim().slice(-500)}`,
        );
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new NixGuardError("REDIS_UNAVAILABLE", "embedded redis-server did not become ready in time"),
            ),
          timeoutMs,
        );
      });
      try {
        await Promise.race([readySeen, exitedEarly, timeout]);
      } catch (err) {
        proc.terminate();
        await proc.result;
        throw err;
      } finally {
        clearTimeout(timer);
        exitedEarly.catch(() => undefined);
      }
    },
  };
}

const describeExit = (r: Pick<RunResult, "exitCode" | "signal">) =>
  r.signal ? `signal ${r.signal}` : `code ${r.exitCode}`;

/** Restarts redis-server when it dies, with backoff; gives up (onGiveUp) when it keeps dying. */
class Supervisor {
  pid: number;
  private state: EmbeddedRedisStatus["state"] = "running";
  private restarts = 0;
  private lastExit: string | undefined;
  private exits: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly delayMs: number;
  private readonly maxRestarts: number;
  private readonly windowMs: number;

  constructor(
    private readonly spawn: () => Running,
    private readonly url: string,
    private readonly log: Logger,
    private readonly opts: EmbeddedRedisOptions,
    private current: Running,
    pid: number,
  ) {
    this.pid = pid;
    this.delayMs = opts.restartDelayMs ?? 500;
    this.maxRestarts = opts.maxRestarts ?? 5;
    this.windowMs = opts.restartWindowMs ?? 60_000;
    this.watch(current);
  }

  status(): EmbeddedRedisStatus {
    return {
      state: this.state,
      restarts: this.restarts,
      ...(this.lastExit !== undefined ? { lastExit: this.lastExit } : {}),
      policy: `restarted with backoff; NixGuard exits 69 after ${this.maxRestarts} exits in ${Math.round(this.windowMs / 1000)} s`,
    };
  }

  terminate(): void {
    this.current.terminate();
  }

  async stop(): Promise<void> {
    this.state = "stopped";
    clearTimeout(this.timer);
    this.current.terminate();
    await this.current.result;
  }

  private watch(running: Running): void {
    void running.result.then((r) => {
      if (this.state === "stopped" || running !== this.current) return;
      this.exited(`${describeExit(r)}: ${(r.stdoutTail + r.stderrTail).trim().slice(-300)}`);
    });
  }

  private exited(how: string): void {
    const now = Date.now();
    this.lastExit = how;
    this.exits = [...this.exits.filter((t) => t > now - this.windowMs), now];
    if (this.exits.length > this.maxRestarts) {
      this.state = "given-up";
      const err = new NixGuardError(
        "REDIS_UNAVAILABLE",
        `embedded redis-server exited ${this.exits.length} times within ${Math.round(this.windowMs / 1000)} s (last: ${how}); giving up`,
      );
      this.log.fatal({ err }, "embedded redis-server keeps dying");
      this.opts.onGiveUp?.(err);
      return;
    }
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.delayMs * 2 ** (this.exits.length - 1));
    this.state = "restarting";
    this.log.error({ exit: how, restartInMs: delay }, "embedded redis-server exited; restarting it");
    this.timer = setTimeout(() => void this.restart(), delay);
  }

  /** A method, not an inline comparison: stop() may change the state across an await. */
  private stopped(): boolean {
    return this.state === "stopped";
  }

  private async restart(): Promise<void> {
    if (this.stopped()) return;
    const next = this.spawn();
    this.current = next;
    try {
      await next.ready(this.opts.readyTimeoutMs ?? 15_000);
    } catch (err) {
      if (!this.stopped()) this.exited((err as Error).message);
      return;
    }
    if (this.stopped()) {
      next.terminate();
      return;
    }
    this.pid = await serverPid(this.url).catch(() => next.pgid);
    this.restarts++;
    this.state = "running";
    this.watch(next);
    this.log.warn({ pid: this.pid, restarts: this.restarts }, "embedded redis-server restarted");
  }
}

/** redis-server's own pid (the guard's differs), from INFO. */
async function serverPid(url: string): Promise<number> {
  const redis = createRedis(url, { role: "client" });
  try {
    const info = await redis.info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    if (!pid) throw new Error("no process_id in INFO");
    return pid;
  } finally {
    redis.disconnect();
  }
}

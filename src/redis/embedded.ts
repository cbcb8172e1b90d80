import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { NixGuardError } from "../errors.js";
import { boundedEnv, resolveCommand } from "../exec/env.js";
import { runGuarded } from "../exec/run.js";
import type { Logger } from "../log.js";
import { createRedis } from "./connection.js";

/**
 * The default when no `redis.url` is configured: a private redis-server owned by this NixGuard,
 * listening only on a unix socket (mode 700) under the state directory, with its append-only
 * file beside it, so jobs and policy state survive restarts. It runs under the exec guard, so
 * it goes down with NixGuard even after a SIGKILL (SIGTERM first: Redis flushes its AOF).
 */
export interface EmbeddedRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;

export async function startEmbeddedRedis(opts: {
  stateDir: string;
  logger: Logger;
  /** Test seam: the environment whose PATH is searched. */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}): Promise<EmbeddedRedis> {
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
  let output = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
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
  let stopping = false;
  const exitedEarly = proc.result.then((r) => {
    throw new NixGuardError(
      "REDIS_UNAVAILABLE",
      `embedded redis-server exited during start (code ${r.exitCode ?? r.signal}): ${(r.stdoutTail + r.stderrTail).trim().slice(-500)}`,
    );
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new NixGuardError("REDIS_UNAVAILABLE", "embedded redis-server did not become ready in time")),
      opts.readyTimeoutMs ?? 15_000,
    );
  });
  try {
    await Promise.race([ready, exitedEarly, timeout]);
  } catch (err) {
    proc.terminate();
    await proc.result;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  exitedEarly.catch((err) => {
    if (!stopping) log.error({ err }, "embedded redis-server exited; NixGuard keeps retrying its connection");
  });
  const pid = await serverPid(`unix://${socket}`).catch(() => proc.pgid);
  // A normal exit (even an uncaught exception) still stops Redis cleanly.
  const onExit = () => proc.terminate();
  process.once("exit", onExit);
  log.info({ socket, pid }, "embedded redis-server started");
  return {
    url: `unix://${socket}`,
    pid,
    stop: async () => {
      stopping = true;
      process.off("exit", onExit);
      proc.terminate();
      await proc.result;
    },
  };
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

import { Redis, type RedisOptions } from "ioredis";
import { NixGuardError } from "../errors.js";
import type { Logger } from "../log.js";
import { type RedisTarget, sentinelOptions } from "./target.js";

/**
 * The one place Redis connections are made. Settings follow BullMQ's production guide:
 * workers block on Redis and must never give up a command (`maxRetriesPerRequest: null`),
 * producers must fail fast while Redis is down instead of queueing commands in memory
 * (`enableOfflineQueue: false`), and every connection reconnects forever with a capped backoff
 * and logs its errors instead of crashing the process.
 */
export type RedisRole = "queue" | "worker" | "client";

export interface CreateRedisOptions {
  role: RedisRole;
  logger?: Logger;
  /** Extra ioredis options (tests); applied last. */
  overrides?: Partial<RedisOptions>;
}

/** Reconnect delay: 100 ms growing linearly, capped (5 s), with jitter so a fleet does not stampede. */
export function reconnectDelay(times: number, capMs = 5_000): number {
  const base = Math.min(100 * times, capMs);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** redis://, rediss:// (TLS) or unix:///path/to.sock?db=N into ioredis options. Throws CONFIG_INVALID. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new NixGuardError("CONFIG_INVALID", "redis.url: expected redis://, rediss:// or unix:// URL");
  }
  const auth: RedisOptions = {};
  if (u.username) auth.username = decodeURIComponent(u.username);
  if (u.password) auth.password = decodeURIComponent(u.password);
  const dbFrom = (s: string | null): number | undefined => {
    if (s === null || s === "") return undefined;
    if (!/^\d{1,2}$/.test(s))
      throw new NixGuardError("CONFIG_INVALID", "redis.url: database must be a number");
    return Number(s);
  };
  switch (u.protocol) {
    case "unix:": {
      if (!u.pathname || u.pathname === "/") {
        throw new NixGuardError("CONFIG_INVALID", "redis.url: unix:// needs a socket path");
      }
      const db = dbFrom(u.searchParams.get("db"));
      return { path: decodeURIComponent(u.pathname), ...auth, ...(db !== undefined ? { db } : {}) };
    }
    case "redis:":
    case "rediss:": {
      const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
      const db = dbFrom(u.pathname.replace(/^\//, "") || u.searchParams.get("db"));
      return {
        host: host || "127.0.0.1",
        port: u.port ? Number(u.port) : 6379,
        ...auth,
        ...(db !== undefined ? { db } : {}),
        ...(u.protocol === "rediss:" ? { tls: { servername: host } } : {}),
      };
    }
    default:
      throw new NixGuardError("CONFIG_INVALID", `redis.url: unsupported scheme ${u.protocol}`);
  }
}

/** The URL with its password replaced, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "redacted";
    return u.toString();
  } catch {
    return "(invalid redis url)";
  }
}

/** For logs: where, never a password. */
export function describeRedisTarget(t: RedisTarget): string {
  if (typeof t === "string") return redactRedisUrl(t);
  return `sentinel master "${t.masterName}" via ${t.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}`;
}

export function roleOptions(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    connectionName: `nixguard-${role}`,
    retryStrategy: reconnectDelay,
    // A READONLY reply means a failover happened under us: reconnect to find the new primary.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
  };
  switch (role) {
    case "worker":
      return { ...common, maxRetriesPerRequest: null };
    case "queue":
      return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
    case "client":
      return { ...common, maxRetriesPerRequest: 3 };
  }
}

/** Where to connect: a URL's server, or the master the Sentinels name (followed across failovers). */
export function targetOptions(target: RedisTarget): RedisOptions {
  return typeof target === "string"
    ? redisOptionsFromUrl(target)
    : sentinelOptions(target, (times) => reconnectDelay(times, SENTINEL_RECONNECT_CAP_MS));
}

/**
 * Behind Sentinel a reconnect attempt is cheap (ask a Sentinel, connect to the master it names)
 * and the next master is usually up within seconds: retrying at least every second keeps
 * "ready again" within about a second of the promotion however long the failover took, where
 * the 5 s cap would add up to 5 s after a long one.
 */
export const SENTINEL_RECONNECT_CAP_MS = 1_000;

export function createRedis(target: RedisTarget, opts: CreateRedisOptions): Redis {
  // The target's reconnect timing (Sentinel) wins over the role's default.
  const redis = new Redis({ ...roleOptions(opts.role), ...targetOptions(target), ...opts.overrides });
  const log = opts.logger?.child({ component: "redis", role: opts.role });
  // ioredis emits an error on every failed reconnect; without a listener Node would crash the
  // process. Log the first of a streak and then at most every 30 s.
  let lastLogged = 0;
  let lastMessage = "";
  redis.on("error", (err: Error) => {
    const now = Date.now();
    if (err.message !== lastMessage || now - lastLogged > 30_000) {
      log?.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, "redis error");
      lastLogged = now;
      lastMessage = err.message;
    }
  });
  redis.on("ready", () => {
    if (lastMessage) log?.info("redis connection restored");
    lastMessage = "";
  });
  return redis;
}

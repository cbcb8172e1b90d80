import { readFileSync, statSync } from "node:fs";
import type { RedisOptions } from "ioredis";
import type { Config } from "../config/schema.js";
import { NixGuardError } from "../errors.js";

/**
 * Which Redis NixGuard talks to: one server by URL, or a master found through Redis Sentinel.
 * Every connection (queue, worker, state, lease, event streams) is made from one of these by
 * createRedis. A sentinel target holds passwords read from files: it is never logged — use
 * describeRedisTarget for that.
 */
export type RedisTarget = string | SentinelTarget;

export interface SentinelTarget {
  kind: "sentinel";
  sentinels: { host: string; port: number }[];
  masterName: string;
  db: number;
  password?: string;
  sentinelPassword?: string;
}

/** "HOST:PORT" or "[v6]:PORT", as the config grammar (hostPort) admits it. */
export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(address.slice(i + 1)) };
}

/**
 * ioredis' Sentinel mode: it asks the Sentinels for the master, checks the server it reached
 * says `role:master` (else asks again), and on every reconnect asks anew. A planned failover
 * (the old master demoted, still up) reaches us as a READONLY reply, on which every connection
 * reconnects (roleOptions' reconnectOnError). ioredis' `failoverDetector` stays off: its
 * +switch-master handler calls disconnect() on the connector, and when that lands while the
 * connection is re-resolving the master after losing it (the master was killed: exactly when
 * +switch-master comes) ioredis ends the connection for good — the sentinel failover test saw
 * the queue's and the worker's connections stay "end" with the new master up.
 */
export function sentinelOptions(t: SentinelTarget, retry: (times: number) => number): RedisOptions {
  return {
    sentinels: t.sentinels,
    name: t.masterName,
    role: "master",
    db: t.db,
    // A lost master and all Sentinels unreachable alike: keep asking, with a capped backoff.
    retryStrategy: retry,
    sentinelRetryStrategy: retry,
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.sentinelPassword !== undefined ? { sentinelPassword: t.sentinelPassword } : {}),
  };
}

/** A password file's content, its last newline dropped. Refuses an empty one (CONFIG_READ). */
export function readSecretFile(path: string, what: string, warn?: (message: string) => void): string {
  let text: string;
  try {
    if ((statSync(path).mode & 0o044) !== 0)
      warn?.(`${what} ${path} is readable by group or others; chmod 0600 it`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    throw new NixGuardError("CONFIG_READ", `${what}: cannot read ${path} (${code})`, { cause: e });
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) throw new NixGuardError("CONFIG_READ", `${what}: ${path} is empty`);
  return secret;
}

/** The target the config names, or undefined when NixGuard is to run its own Redis. */
export function redisTargetFromConfig(
  redis: Config["redis"],
  read: (path: string, what: string) => string = readSecretFile,
): RedisTarget | undefined {
  if (redis.url) return redis.url;
  const s = redis.sentinels;
  if (!s) return undefined;
  return {
    kind: "sentinel",
    sentinels: s.addresses.map(parseHostPort),
    masterName: s.masterName,
    db: s.db,
    ...(s.passwordFile ? { password: read(s.passwordFile, "redis.sentinels.passwordFile") } : {}),
    ...(s.sentinelPasswordFile
      ? { sentinelPassword: read(s.sentinelPasswordFile, "redis.sentinels.sentinelPasswordFile") }
      : {}),
  };
}

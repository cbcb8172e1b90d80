import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../log.js";

/**
 * At most one `nixops4 apply` per flake directory, across every worker on every machine that
 * shares the Redis (nixops4 writes flake.lock and its state in the directory). The classic
 * single-instance Redis lock: SET NX PX with a random token; renewed while the apply runs;
 * released only by its owner (compare-and-delete in Lua); anyone else takes it over only after
 * it expired — which is also how a lock of a dead worker is recovered.
 */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface FlakeLease {
  readonly key: string;
  /** Aborts when the lease was lost (taken over, or not renewable for a whole TTL). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface FlakeLockOptions {
  ttlMs: number;
  logger?: Logger;
}

export class FlakeLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly opts: FlakeLockOptions,
  ) {}

  keyFor(flakeDir: string): string {
    // Hashed: a path can be long and contain characters one would rather not have in a key.
    return `${this.prefix}:flake-lock:${createHash("sha256").update(flakeDir).digest("hex").slice(0, 32)}`;
  }

  /** Who holds the directory's lock (the holder's job id), if anyone. */
  async holder(flakeDir: string): Promise<string | undefined> {
    const v = await this.redis.get(this.keyFor(flakeDir));
    return v ? v.slice(v.indexOf(" ") + 1) : undefined;
  }

  async tryAcquire(flakeDir: string, owner: string): Promise<FlakeLease | undefined> {
    const key = this.keyFor(flakeDir);
    // The value carries the owner after the token, for `holder()`; compare-and-* use all of it.
    const value = `${randomBytes(16).toString("hex")} ${owner}`;
    const ok = await this.redis.set(key, value, "PX", this.opts.ttlMs, "NX");
    return ok === "OK" ? this.lease(key, value) : undefined;
  }

  /** Tries for at most `waitMs`, polling; undefined when the directory stayed busy. */
  async acquire(flakeDir: string, owner: string, waitMs: number, signal?: AbortSignal) {
    const until = Date.now() + waitMs;
    for (;;) {
      const lease = await this.tryAcquire(flakeDir, owner);
      if (lease || Date.now() >= until || signal?.aborted) return lease;
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(until - Date.now(), 10))));
    }
  }

  private lease(key: string, value: string): FlakeLease {
    const lost = new AbortController();
    const log = this.opts.logger?.child({ component: "flake-lock", key });
    let lastRenewed = Date.now();
    let released = false;
    const renew = async () => {
      try {
        const r = await this.redis.eval(RENEW, 1, key, value, this.opts.ttlMs);
        if (r === 1) {
          lastRenewed = Date.now();
          return;
        }
        log?.error("flake lock was taken over: stopping the apply");
        lost.abort(new Error("flake lock taken over"));
      } catch (err) {
        // Redis away: the lock survives until its TTL, after which another worker may take it.
        if (Date.now() - lastRenewed >= this.opts.ttlMs) {
          log?.error({ err }, "flake lock could not be renewed for a whole TTL: stopping the apply");
          lost.abort(new Error("flake lock not renewable"));
        }
      }
      if (lost.signal.aborted) clearInterval(timer);
    };
    const timer = setInterval(() => void renew(), Math.max(Math.floor(this.opts.ttlMs / 3), 50));
    return {
      key,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, key, value);
      },
    };
  }
}

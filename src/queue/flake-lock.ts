import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { NixGuardError } from "../errors.js";
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
  /**
   * How long the holder needs to stop its apply (nixops4.killGrace): when no renewal has been
   * confirmed, the lease is given up this long before it can expire in Redis, so the apply is
   * gone before anyone else may take the directory. Default a third of the TTL.
   */
  stopBeforeExpiryMs?: number;
  logger?: Logger;
}

export class FlakeLock {
  private readonly stopMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly opts: FlakeLockOptions,
  ) {
    this.stopMs = opts.stopBeforeExpiryMs ?? Math.floor(opts.ttlMs / 3);
    if (!(this.stopMs >= 0 && this.stopMs < opts.ttlMs)) {
      throw new NixGuardError(
        "USAGE",
        `flake lock: the TTL (${opts.ttlMs} ms) must be longer than the time to stop an apply (${this.stopMs} ms)`,
      );
    }
  }

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
    const sentAt = Date.now();
    const ok = await this.redis.set(key, value, "PX", this.opts.ttlMs, "NX");
    return ok === "OK" ? this.lease(key, value, sentAt) : undefined;
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

  private lease(key: string, value: string, sentAt: number): FlakeLease {
    const lost = new AbortController();
    const log = this.opts.logger?.child({ component: "flake-lock", key });
    const { ttlMs } = this.opts;
    // The lock holds at least until `sentAt + ttl` of the last command that set its expiry: Redis
    // applied it after we sent it. Counted here, not from a reply, so a renewal that never
    // answers (a silent network) cannot keep the apply running past the point of safety.
    let deadline: NodeJS.Timeout | undefined;
    const confirmed = (sent: number) => {
      clearTimeout(deadline);
      deadline = setTimeout(
        () => {
          log?.error("flake lock renewal not confirmed in time: stopping the apply before it expires");
          giveUp(new Error("flake lock not renewable"));
        },
        sent + ttlMs - this.stopMs - Date.now(),
      );
    };
    const giveUp = (reason: Error) => {
      clearTimeout(deadline);
      clearInterval(timer);
      lost.abort(reason);
    };
    let renewing = false;
    let released = false;
    const renew = async () => {
      if (renewing || released || lost.signal.aborted) return; // one renewal in flight at a time
      renewing = true;
      const sent = Date.now();
      try {
        const r = await this.redis.eval(RENEW, 1, key, value, ttlMs);
        if (released || lost.signal.aborted) return;
        if (r === 1) confirmed(sent);
        else {
          log?.error("flake lock was taken over: stopping the apply");
          giveUp(new Error("flake lock taken over"));
        }
      } catch {
        // Redis away: the deadline decides; the next tick tries again.
      } finally {
        renewing = false;
      }
    };
    // At least two renewals fit between a confirmation and the deadline it sets.
    const timer = setInterval(() => void renew(), Math.max(Math.floor((ttlMs - this.stopMs) / 3), 50));
    confirmed(sentAt);
    return {
      key,
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        clearTimeout(deadline);
        await this.redis.eval(RELEASE, 1, key, value);
      },
    };
  }
}

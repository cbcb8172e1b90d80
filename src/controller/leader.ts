import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { type Fence, leaseKeys } from "../redis/fence.js";

// Take the lease when free (SET NX PX) or when it is already ours (a step-down whose renewal
// reached Redis late); every acquisition gets a fresh fencing token.
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end
return redis.call('INCR', KEYS[2])
`;

// Compare-and-renew: only the holder's token extends the lease.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface LeaderElectorOptions {
  redis: Redis;
  prefix: string;
  /** config.leader: lease 15 s, renew every 5 s by default (controller-runtime's). */
  leaseMs: number;
  renewMs: number;
  logger: Logger;
  metrics?: Metrics;
  /** Shown in logs and status; random by default. */
  identity?: string;
}

/**
 * Leader election over one Redis key. Only the leader probes and plans; a holder that cannot
 * renew (Redis down, network split, process stalled) steps down within one renew period, well
 * before its lease runs out elsewhere. The fencing token increases with every acquisition; the
 * planning's writes carry it and Redis refuses them once it is stale (redis/fence.ts): a holder
 * frozen past its lease wakes with timers that fire before it learns it lost the lease.
 */
export class LeaderElector {
  readonly identity: string;
  private readonly key: string;
  private readonly fenceKey: string;
  private readonly listeners = new Set<(isLeader: boolean) => void>();
  private leading = false;
  private token: number | undefined;
  /** Local deadline of the lease: past it we cannot know it is still ours (a frozen process). */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private tick: Promise<void> = Promise.resolve();
  /** An attempt is in flight (retryNow must not start a second one beside it). */
  private ticking = false;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.identity = opts.identity ?? randomUUID();
    const keys = leaseKeys(opts.prefix);
    this.key = keys.leaseKey;
    this.fenceKey = keys.fenceKey;
  }

  /**
   * Leading and within the lease as last confirmed. The time check matters for a process that
   * was frozen (SIGSTOP, a suspended VM, a long GC pause) past its lease: on waking, its timers
   * may fire before the renewal that would tell it the lease is gone, and it must not plan.
   */
  isLeader(): boolean {
    return this.leading && Date.now() < this.validUntil;
  }

  fencingToken(): number | undefined {
    return this.isLeader() ? this.token : undefined;
  }

  /** What the planning's writes carry, for Redis to check (undefined when not leading). */
  fence(): Fence | undefined {
    const token = this.fencingToken();
    if (token === undefined) return undefined;
    return { leaseKey: this.key, fenceKey: this.fenceKey, identity: this.identity, token };
  }

  /** Identity of the current holder as Redis sees it, or undefined when the lease is free. */
  async holder(): Promise<string | undefined> {
    return (await this.opts.redis.get(this.key)) ?? undefined;
  }

  onChange(listener: (isLeader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tries at once, then every renew period. Resolves after the first attempt. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.opts.metrics?.leader.set(0);
    await this.runTick();
  }

  /** Stops campaigning and releases the lease if held, so another process takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.tick;
    if (this.leading) {
      this.setLeading(false, "stopped");
      await this.withDeadline(this.opts.redis.eval(RELEASE, 1, this.key, this.identity)).catch(
        () => undefined,
      );
    }
  }

  /**
   * Redis is reachable again (a reconnect, a Sentinel failover): campaign now, not at the next
   * renew tick. A lease that ran out during the outage is free (or still ours); waiting up to a
   * renew period for it keeps /readyz at "no controller holds the leader lease" and planning
   * stopped that much longer — up to 5 s after a failover longer than the lease.
   */
  retryNow(): void {
    if (!this.running || this.leading || this.ticking) return;
    if (this.timer) clearTimeout(this.timer);
    void this.runTick();
  }

  private runTick(): Promise<void> {
    const started = Date.now();
    this.ticking = true;
    this.tick = this.attempt().finally(() => {
      this.ticking = false;
      if (!this.running) return;
      const wait = Math.max(0, this.opts.renewMs - (Date.now() - started));
      this.timer = setTimeout(() => void this.runTick(), wait);
    });
    return this.tick;
  }

  private async attempt(): Promise<void> {
    // The lease runs from when Redis got the request, at or after this moment; keep half a renew
    // period of margin so a plan started just before the deadline ends before another may lead.
    const sentAt = Date.now();
    const validUntil = sentAt + this.opts.leaseMs - Math.floor(this.opts.renewMs / 2);
    try {
      if (this.leading) {
        const ok = await this.withDeadline(
          this.opts.redis.eval(RENEW, 1, this.key, this.identity, String(this.opts.leaseMs)),
        );
        if (ok !== 1) this.setLeading(false, "lease lost to another process");
        else this.validUntil = validUntil;
        return;
      }
      const token = await this.withDeadline(
        this.opts.redis.eval(ACQUIRE, 2, this.key, this.fenceKey, this.identity, String(this.opts.leaseMs)),
      );
      if (typeof token === "number" && token > 0 && this.running) {
        this.token = token;
        this.validUntil = validUntil;
        this.setLeading(true, "acquired");
      }
    } catch (err) {
      // Cannot tell whether the lease is still ours: assume not, before someone else is sure.
      if (this.leading) this.setLeading(false, `renewal failed: ${(err as Error).message}`);
    }
  }

  /**
   * A Redis call that hangs (network split) must not keep us leading: give it half a renew
   * period, so stepping down happens within one renew period of the last renewal.
   *
   * The deadline is given up one turn of the event loop later (setImmediate). After a stall (a
   * long GC, a loaded machine) Node runs expired timers before it reads the sockets, so a reply
   * that arrived in time would lose to its own deadline and the leader would step down for
   * nothing (the fuzz test saw /readyz go 503 so). The check phase runs after the reads: an
   * answer already there wins. Whether the lease is still valid is isLeader()'s clock check.
   */
  private withDeadline<T>(p: Promise<T>): Promise<T> {
    const ms = Math.max(1, Math.floor(this.opts.renewMs / 2));
    let t: NodeJS.Timeout | undefined;
    let i: NodeJS.Immediate | undefined;
    const deadline = new Promise<never>((_, reject) => {
      t = setTimeout(() => {
        i = setImmediate(() => reject(new Error(`no answer from redis in ${ms} ms`)));
      }, ms);
    });
    return Promise.race([p, deadline]).finally(() => {
      clearTimeout(t);
      clearImmediate(i);
    });
  }

  private setLeading(leading: boolean, why: string): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (!leading) this.token = undefined;
    this.opts.metrics?.leader.set(leading ? 1 : 0);
    this.opts.logger.info(
      { identity: this.identity, fencingToken: this.token, why },
      leading ? "became leader" : "stopped leading",
    );
    for (const listener of this.listeners) {
      try {
        listener(leading);
      } catch (err) {
        this.opts.logger.error({ err }, "leader change listener threw");
      }
    }
  }
}

import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { LeaderElector } from "../../../src/controller/leader.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { startProxy } from "../../helpers/tcp-proxy.js";
import { harness, useRedis } from "./harness.js";

const LEASE = 1_500;
const RENEW = 500;
const env = useRedis();
let seq = 0;

const elector = (conn: Redis, prefix: string, identity: string) =>
  new LeaderElector({
    redis: conn,
    prefix,
    leaseMs: LEASE,
    renewMs: RENEW,
    logger: silentLogger(),
    metrics: createMetrics({ version: "t", processMetrics: false }),
    identity,
  });

async function until(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

describe("leader election", () => {
  it("retryNow campaigns at once (Redis back after an outage) instead of waiting for the renew tick", async () => {
    const prefix = `lease-${++seq}`;
    const slow = (identity: string) =>
      new LeaderElector({
        redis: env.redis(),
        prefix,
        leaseMs: 120_000,
        renewMs: 60_000,
        logger: silentLogger(),
        identity,
      });
    const a = slow("a");
    const b = slow("b");
    await a.start();
    await b.start();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    await a.stop();
    // The lease is free; b's next tick is a minute away.
    b.retryNow();
    expect(await until(() => b.isLeader(), 2_000)).toBeLessThan(2_000);
    b.retryNow(); // leading: nothing happens
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it("exactly one of two leads; stopping releases the lease and the other takes over within a renew period", async () => {
    const prefix = `lease-${++seq}`;
    const a = elector(env.redis(), prefix, "a");
    const b = elector(env.redis(), prefix, "b");
    await a.start();
    await b.start();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(await a.holder()).toBe("a");
    const tokenA = a.fencingToken() ?? 0;
    expect(tokenA).toBeGreaterThan(0);

    // renewals keep it: well past the lease, still a
    await new Promise((r) => setTimeout(r, LEASE + RENEW));
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);

    await a.stop();
    expect(a.isLeader()).toBe(false);
    const took = await until(() => b.isLeader(), RENEW + 300);
    expect(took).toBeLessThanOrEqual(RENEW + 300);
    expect(b.fencingToken()).toBeGreaterThan(tokenA);
    await b.stop();
    expect(await b.holder()).toBeUndefined();
  });

  it("a stall while a renewal is out does not make the holder step down when the answer came in time", async () => {
    const prefix = `lease-${++seq}`;
    const conn = new Redis(env.server().url);
    const a = elector(conn, prefix, "a");
    const changes: boolean[] = [];
    a.onChange((leading) => changes.push(leading));
    await a.start();
    expect(a.isLeader()).toBe(true);
    // A renewal is sent; a turn of the event loop later, with its answer not read yet, the loop
    // is blocked past the renewal's deadline (RENEW / 2) but well inside the lease. Redis answers
    // at once; the answer waits unread while the deadline expires. (A stall within the turn that
    // armed the deadline would not do: Node's timers compare against the time the turn began.)
    const evalOriginal = conn.eval.bind(conn) as (...args: unknown[]) => Promise<unknown>;
    let stalled = false;
    (conn as unknown as { eval: (...args: unknown[]) => Promise<unknown> }).eval = (...args) => {
      const sent = evalOriginal(...args);
      if (!stalled) {
        let answered = false;
        void sent.finally(() => {
          answered = true;
        });
        setImmediate(() => {
          // Already read (this turn's poll came after the answer): try with the next renewal.
          if (answered) return;
          stalled = true;
          const until = Date.now() + RENEW;
          while (Date.now() < until) {
            // busy: no timer, no socket read
          }
        });
      }
      return sent;
    };
    await until(() => stalled, RENEW * 20);
    await new Promise((r) => setTimeout(r, RENEW * 3));
    expect(stalled).toBe(true);
    expect(changes).toEqual([true]);
    expect(a.isLeader()).toBe(true);
    await a.stop();
    conn.disconnect();
  });

  it("a holder that stops renewing is replaced, and steps down (and stops planning) within one renew period", async () => {
    const prefix = `lease-${++seq}`;
    const proxy = await startProxy(env.server().port);
    const viaProxy = new Redis(proxy.port, "127.0.0.1", { maxRetriesPerRequest: null, lazyConnect: false });
    await viaProxy.ping();
    const a = elector(viaProxy, prefix, "a");
    const b = elector(env.redis(), prefix, "b");
    const h = harness(env.redis(), { restartAttempts: 100, settle: "0s", backoff: { initial: "0s" } }, a);
    let passes = 0;
    const reconcile = h.ctl.reconcile.bind(h.ctl);
    h.ctl.reconcile = async (...args) => {
      passes++;
      return reconcile(...args);
    };
    const changes: boolean[] = [];
    a.onChange((leading) => {
      changes.push(leading);
      if (leading) h.ctl.start();
      else void h.ctl.stop();
    });
    try {
      await a.start();
      await b.start();
      expect(a.isLeader()).toBe(true);
      h.healthyAll();
      h.failUnit("a");
      await until(() => h.queue.requests.length === 1, 2_000);
      expect(passes).toBeGreaterThan(0);

      proxy.freeze();
      const frozenAt = Date.now();
      const steppedDown = await until(() => !a.isLeader(), 2 * RENEW + 200);
      // the next renewal is at most one renew period away, and it gets half a period to answer
      expect(steppedDown).toBeLessThanOrEqual(RENEW + RENEW / 2 + 150);
      expect(changes).toEqual([true, false]);

      const passesAtStepDown = passes;
      h.queue.finish("restart__fedi__a");
      h.failUnit("b");
      h.failUnit("a", "b.service");
      await new Promise((r) => setTimeout(r, 300));
      expect(passes).toBe(passesAtStepDown);
      await expect(h.ctl.reconcile("fedi")).rejects.toMatchObject({ code: "CONFLICT" });

      // b takes over once a's lease has run out
      await until(() => b.isLeader(), LEASE + RENEW + 500);
      expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(LEASE - RENEW);
      expect(b.fencingToken()).toBeGreaterThan(1);
    } finally {
      await h.ctl.stop();
      await b.stop();
      await a.stop();
      viaProxy.disconnect();
      await proxy.close();
    }
  });
});

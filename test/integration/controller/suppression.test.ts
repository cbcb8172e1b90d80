import { describe, expect, it } from "vitest";
import { StateStore } from "../../../src/controller/state-store.js";
import { SuppressionCache } from "../../../src/runtime/suppression.js";
import { fleetConfig } from "../../unit/controller/fixtures.js";
import { useRedis } from "./harness.js";

/**
 * Failure counting is suppressed only on the hosts an action touches, while it runs and settles:
 * a restart of one host of a deployment must not freeze the counts of its other hosts (the first
 * restart of a mass failure hid the rest from the circuit breaker). Real Redis, real StateStore.
 */
const loaded = fleetConfig();
const hosts = loaded.desired.deployments[0]!.hosts.map((h) => h.name);
const env = useRedis();

/** A cache on a settable clock; each answer is read fresh from Redis. */
function rig(prefix: string) {
  const store = new StateStore(env.redis(), prefix);
  // Wall-clock based: the settling hash expires (PEXPIREAT) with its last settle.
  let now = Date.now();
  const cache = new SuppressionCache({
    store,
    getDesired: () => loaded.desired,
    refreshMs: 0,
    now: () => now,
  });
  const ask = async (host: string) => {
    await cache.invalidate("fedi");
    return cache.isSuppressed("fedi", host);
  };
  const suppressed = async () => {
    const out: string[] = [];
    for (const h of hosts) if (await ask(h)) out.push(h);
    return out;
  };
  return { store, cache, suppressed, setNow: (t: number) => (now = t), now: () => now };
}

describe("failure-count suppression", () => {
  it("covers the restarted host only, while in flight and while it settles", async () => {
    const r = rig("sup1");
    const [a, b] = hosts as [string, string];
    expect(await r.suppressed()).toEqual([]);
    await r.store.markInFlight("fedi", `restart__fedi__${a}`, "j1", r.now());
    expect(await r.suppressed()).toEqual([a]);
    await r.store.finish("fedi", `restart__fedi__${a}`, "j1", r.now() + 30_000, r.now());
    expect(await r.suppressed()).toEqual([a]);
    await r.store.markInFlight("fedi", `rollback__fedi__${b}`, "j2", r.now());
    expect((await r.suppressed()).sort()).toEqual([a, b].sort());
    r.setNow(r.now() + 30_001);
    expect(await r.suppressed()).toEqual([b]);
  });

  it("covers every host while a deployment's apply runs and settles", async () => {
    const r = rig("sup2");
    await r.store.markInFlight("fedi", "redeploy__fedi", "j1", r.now());
    expect(await r.suppressed()).toEqual(hosts);
    await r.store.finish("fedi", "redeploy__fedi", "j1", r.now() + 10_000, r.now());
    expect(await r.suppressed()).toEqual(hosts);
    r.setNow(r.now() + 10_001);
    expect(await r.suppressed()).toEqual([]);
  });

  it("keeps only keys still settling, and the hash expires with its last settle", async () => {
    const r = rig("sup3");
    const redis = env.redis();
    const [a, b] = hosts as [string, string];
    const t = Date.now();
    await r.store.finish("fedi", `restart__fedi__${a}`, "j1", t + 1_000, t);
    await r.store.finish("fedi", `restart__fedi__${b}`, "j2", t + 60_000, t + 2_000);
    expect(Object.keys(await redis.hgetall("sup3:ctl:settling:fedi"))).toEqual([`restart__fedi__${b}`]);
    const ttl = await redis.pttl("sup3:ctl:settling:fedi");
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_001);
  });
});

import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { StateStore } from "../../../src/controller/state-store.js";
import { fleetConfig } from "../../unit/controller/fixtures.js";
import { useRedis } from "./harness.js";

const spec = fleetConfig().desired.deployments[0]!;
const env = useRedis();

describe("state store", () => {
  it("records an automatic action atomically and loads it back for the deployment", async () => {
    const store = new StateStore(env.redis(), "t1");
    await store.recordAutomatic({
      deployment: "fedi",
      key: "restart__fedi__a",
      jobId: "j1",
      at: 1_000,
      backoff: { attempts: 1, nextAt: 31_000 },
      keepAttemptsMs: 3_600_000,
      budgetWindows: { deployment: 3_600_000, global: 3_600_000 },
    });
    await store.recordAutomatic({
      deployment: "fedi",
      key: "redeploy__fedi",
      jobId: "j2",
      at: 2_000,
      backoff: { attempts: 1, nextAt: 32_000 },
      keepAttemptsMs: 3_600_000,
      budgetWindows: { deployment: 3_600_000, global: 3_600_000 },
    });
    const s = await store.load(spec);
    expect(s.attempts).toEqual({ restart__fedi__a: [1_000], redeploy__fedi: [2_000] });
    expect(s.budget).toEqual({ deployment: [1_000, 2_000], global: [1_000, 2_000] });
    expect(s.backoff["restart__fedi__a"]).toEqual({ attempts: 1, nextAt: 31_000 });
    expect(s.inFlight.map((e) => e.key).sort()).toEqual(["redeploy__fedi", "restart__fedi__a"]);

    await store.finish("fedi", "restart__fedi__a", "j1", 500_000);
    const after = await store.load(spec);
    expect(after.inFlight.map((e) => e.key)).toEqual(["redeploy__fedi"]);
    expect(after.settleUntil).toBe(500_000);

    // A rerun marked while j2 ran keeps its mark when j2's outcome comes in.
    await store.markInFlight("fedi", "redeploy__fedi", "j3", 3_000);
    await store.finish("fedi", "redeploy__fedi", "j2", 600_000);
    const rerun = await store.load(spec);
    expect(rerun.inFlight).toEqual([{ key: "redeploy__fedi", jobId: "j3", since: 3_000 }]);
    expect(rerun.settleUntil).toBe(600_000);
    await store.finish("fedi", "redeploy__fedi", "j3", 700_000);
    expect((await store.load(spec)).inFlight).toEqual([]);
  });

  it("trims timestamps that left their window", async () => {
    const store = new StateStore(env.redis(), "t2");
    const rec = (at: number) =>
      store.recordAutomatic({
        deployment: "fedi",
        key: "restart__fedi__b",
        jobId: `j${at}`,
        at,
        backoff: { attempts: 1, nextAt: at },
        keepAttemptsMs: 1_000,
        budgetWindows: { deployment: 1_000, global: 1_000 },
      });
    await rec(1_000);
    await rec(1_500);
    await rec(2_600);
    const s = await store.load(spec);
    expect(s.attempts["restart__fedi__b"]).toEqual([2_600]);
    expect(s.budget.global).toEqual([2_600]);
  });

  it("keeps pauses, quarantines and generations; reset clears quarantine, backoff and budget", async () => {
    const store = new StateStore(env.redis(), "t3");
    await store.setPause({
      scope: { kind: "host", deployment: "fedi", host: "a" },
      reason: "r",
      actor: "alice",
      since: 1,
    });
    await store.setQuarantine({ deployment: "fedi", host: "a", since: 1, until: 99, reason: "r" });
    await store.markGenerationPending("fedi", ["a", "b"], 0);
    await store.recordGeneration("fedi", "a", "/nix/store/aaa-system");
    await store.recordAutomatic({
      deployment: "fedi",
      key: "redeploy__fedi",
      jobId: "j",
      at: 5,
      backoff: { attempts: 2, nextAt: 100 },
      keepAttemptsMs: 3_600_000,
      budgetWindows: { deployment: 3_600_000, global: 3_600_000 },
    });
    let s = await store.load(spec);
    expect(s.pauses).toHaveLength(1);
    expect(s.quarantines).toEqual([{ deployment: "fedi", host: "a", since: 1, until: 99, reason: "r" }]);
    expect(s.generations).toEqual({ a: "/nix/store/aaa-system" });
    expect(s.generationPending).toEqual({ b: 0 });

    expect((await store.reset(spec, "a")).sort()).toEqual(["backoff", "budget", "quarantine"]);
    s = await store.load(spec);
    expect(s.quarantines).toEqual([]);
    expect(s.backoff).toEqual({});
    expect(s.budget.deployment).toEqual([]);
    expect(s.pauses).toHaveLength(1);
    expect(await store.reset(spec)).toEqual([]);
    // A deployment reset leaves the fleet-wide window alone; only a global reset empties it.
    expect(s.budget.global).toEqual([5]);
    expect(await store.resetGlobalBudget()).toBe(true);
    expect((await store.load(spec)).budget.global).toEqual([]);
    expect(await store.resetGlobalBudget()).toBe(false);

    const removed = await store.removePause({ kind: "host", deployment: "fedi", host: "a" });
    expect(removed?.actor).toBe("alice");
    expect(await store.removePause({ kind: "global" })).toBeUndefined();
  });

  it("survives a Redis crash and restart (AOF)", async () => {
    const store = new StateStore(env.redis(), "t4");
    await store.setQuarantine({ deployment: "fedi", since: 1, until: 2, reason: "kept" });
    await store.setBackoff("restart__fedi__c", { attempts: 4, nextAt: 77 });
    await env.server().kill();
    await env.server().start();
    const fresh = new Redis(env.server().url);
    try {
      const s = await new StateStore(fresh, "t4").load(spec);
      expect(s.quarantines.map((q) => q.reason)).toEqual(["kept"]);
      expect(s.backoff["restart__fedi__c"]).toEqual({ attempts: 4, nextAt: 77 });
    } finally {
      fresh.disconnect();
    }
  });
});

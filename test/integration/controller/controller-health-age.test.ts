/**
 * Health has an age (issue 18, item 3): a process that regains the lease after a while probed
 * nothing meanwhile; what it remembers must not drive an action. Reproduced before: a restart
 * enqueued from two-hour-old health the moment leadership came back.
 */
import { describe, expect, it } from "vitest";
import { harness, useRedis } from "./harness.js";

const env = useRedis();

describe("health age on (re)gaining leadership", () => {
  it("health older than probes.maxHealthAge drives nothing; the host is unknown until observed again", async () => {
    const h = harness(env.redis());
    h.healthyAll();
    h.failUnit("a");
    h.clock.now += 2 * 3_600_000; // two hours not leading, not probing
    h.ctl.start();
    try {
      const r = await h.ctl.reconcile("fedi");
      expect(r.actions).toEqual([]);
      expect(h.queue.requests).toEqual([]);
      expect(h.health.get("fedi", "a")).toBeUndefined();

      // observed again: acts again
      h.failUnit("a");
      const again = await h.ctl.reconcile("fedi");
      expect(again.actions.map((a) => a.key)).toEqual(["restart__fedi__a"]);
    } finally {
      await h.ctl.stop();
    }
  });

  it("health within the bound (default 2 × interval + timeout = 70 s) still acts", async () => {
    const h = harness(env.redis());
    h.healthyAll();
    h.failUnit("a");
    h.clock.now += 60_000;
    h.ctl.start();
    try {
      const r = await h.ctl.reconcile("fedi");
      const keys = [...r.actions.map((a) => a.key), ...h.queue.requests.map((q) => q.action.kind)];
      expect(keys).toContain("restart");
      expect(h.health.get("fedi", "a")?.state).toBe("failing");
    } finally {
      await h.ctl.stop();
    }
  });

  it("probes.maxHealthAge overrides the bound", async () => {
    const h = harness(env.redis(), {}, undefined, undefined, { probes: { maxHealthAge: "10s" } });
    h.healthyAll();
    h.failUnit("a");
    h.clock.now += 11_000;
    h.ctl.start();
    try {
      await h.ctl.reconcile("fedi");
      expect(h.queue.requests).toEqual([]);
      expect(h.health.get("fedi", "a")).toBeUndefined();
    } finally {
      await h.ctl.stop();
    }
  });
});

import { describe, expect, it } from "vitest";
import { harness, useRedis } from "../integration/controller/harness.js";

/**
 * Fault 7: a service that fails every other probe cycle. The controller runs over a real Redis
 * (state store, events) with an injected clock, so 10 minutes of simulated time take a second:
 * one probe cycle every 30 s (probes.interval's default), one reconcile pass per cycle, every job
 * finishing at once with success (the restart "works" — and the unit fails again next cycle).
 * The shipped remediation defaults apply: 2 restarts per 30 min, 3 actions per deployment per
 * hour, settle 2 min, backoff from 30 s. Health is set per cycle as the judge reports it with
 * failureThreshold 1 (with the default 3, a failure every other cycle never turns the host
 * failing: hysteresis absorbs it, and there is nothing to bound).
 *
 * Regression: a flapping host was never quarantined (each failing spell had a fresh `since`,
 * so the redeploy of an earlier spell did not count), and got 3 actions an hour forever.
 */
const S = 1_000;
const env = useRedis();

describe("fault 7: a flapping service", () => {
  it("bounded restarts, then one redeploy, then quarantine; never more than the budget in 10 min", async () => {
    const h = harness(env.redis(), {});
    h.healthyAll();
    const timeline: string[] = [];
    const cycles = (10 * 60 * S) / (30 * S);
    for (let cycle = 0; cycle < cycles; cycle++) {
      if (cycle % 2 === 0) h.failUnit("a");
      else h.observe("a", { state: "healthy" });
      const r = await h.ctl.reconcile("fedi");
      for (const a of r.actions) {
        if (a.decision === "enqueued" || a.decision === "quarantined")
          timeline.push(`${cycle}:${a.decision === "quarantined" ? "quarantine" : a.action.kind}`);
      }
      // The worker finishes whatever was queued before the next cycle.
      for (const key of [...h.queue.jobs.keys()]) await h.finish(key, "success");
      h.clock.now += 30 * S;
    }
    const count = (k: string) => timeline.filter((t) => t.endsWith(`:${k}`)).length;
    console.log(JSON.stringify({ fault: "flapping", simulatedMinutes: 10, timeline }));
    expect(count("restart")).toBeGreaterThanOrEqual(1);
    expect(count("restart")).toBeLessThanOrEqual(2); // restartAttempts
    expect(count("redeploy")).toBe(1);
    expect(count("quarantine")).toBe(1);
    expect(count("restart") + count("redeploy")).toBeLessThanOrEqual(3); // budget.deployment.max
    // The order of the ladder, and nothing after the quarantine.
    expect(timeline.map((t) => t.split(":")[1])).toEqual([
      ...Array(count("restart")).fill("restart"),
      "redeploy",
      "quarantine",
    ]);
    const status = await h.ctl.status();
    expect(status.quarantined.map((q) => q.host)).toEqual(["a"]);
  });
});

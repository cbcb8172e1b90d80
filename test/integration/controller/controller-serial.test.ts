import { describe, expect, it } from "vitest";
import { type ActionRequest, actionKey, type EnqueueResult } from "../../../src/action.js";
import { harness, useRedis } from "./harness.js";
import { RecordingQueue } from "./recording-queue.js";

const env = useRedis();

/** A worker that takes every new job at once: a second request for its key finds it running. */
class EagerWorkerQueue extends RecordingQueue {
  override async enqueue(req: ActionRequest): Promise<EnqueueResult> {
    const res = await super.enqueue(req);
    if (res.state === "added") this.start(actionKey(req.action));
    return res;
  }
}

const rig = () => harness(env.redis(), {}, undefined, new EagerWorkerQueue());

describe("controller: one read-decide-write section per deployment at a time", () => {
  it("concurrent passes over one deployment enqueue once, never a rerun of their own job", async () => {
    const h = rig();
    h.healthyAll();
    h.failUnit("a");
    const results = await Promise.all(Array.from({ length: 5 }, () => h.ctl.reconcile("fedi")));
    const decisions = results.flatMap((r) => r.actions.map((a) => a.enqueue ?? a.blockedBy));
    expect(decisions).toEqual(["added", "inflight", "inflight", "inflight", "inflight"]);
    expect(h.queue.requests).toHaveLength(1);
    const state = await h.store.load(h.loaded.desired.deployments[0]!);
    expect(state.budget.deployment).toHaveLength(1);
  });

  it("a scheduled redeploy during a pass that redeploys is held by the pass's in-flight mark", async () => {
    const h = rig();
    h.healthyAll();
    // A unit that the ladder sends to redeploy at once: missing from the host.
    h.failUnit("a", "a.service", { missing: true });
    const [pass, scheduled] = await Promise.all([h.ctl.reconcile("fedi"), h.ctl.scheduledRedeploy("fedi")]);
    expect(pass.actions.map((a) => a.enqueue)).toEqual(["added"]);
    expect(scheduled).toMatchObject({ decision: "blocked", blockedBy: "inflight" });
    expect(h.queue.requests).toHaveLength(1);
  });

  it("a dry run does not wait for a pass, and an unknown deployment fails before waiting", async () => {
    const h = rig();
    h.healthyAll();
    h.failUnit("a");
    const [real, dry] = await Promise.all([
      h.ctl.reconcile("fedi"),
      h.ctl.reconcile("fedi", { dryRun: true }),
    ]);
    expect(real.actions.map((a) => a.enqueue)).toEqual(["added"]);
    expect(dry.actions.map((a) => a.decision)).toEqual(["planned"]);
    await expect(h.ctl.reconcile("nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("an automatic request that lands as a rerun spends an attempt and budget like a new job", async () => {
    const h = rig();
    h.healthyAll();
    h.failUnit("a");
    const first = await h.ctl.reconcile("fedi");
    expect(first.actions.map((a) => a.enqueue)).toEqual(["added"]);
    // The mark is gone (a lost report, an operator's edit) while the job still runs.
    await h.store.clearInFlight("fedi", "restart__fedi__a");
    h.clock.now += 60 * 60_000; // past backoff
    const second = await h.ctl.reconcile("fedi");
    expect(second.actions.map((a) => a.enqueue)).toEqual(["rerun-scheduled"]);
    const state = await h.store.load(h.loaded.desired.deployments[0]!);
    expect(state.budget.deployment).toHaveLength(2);
    expect(state.attempts["restart__fedi__a"]).toHaveLength(2);
    expect(state.inFlight.map((e) => e.jobId)).toEqual([second.actions[0]?.jobId]);
  });
});

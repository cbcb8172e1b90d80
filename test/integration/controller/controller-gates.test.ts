import { describe, expect, it } from "vitest";
import type { Action } from "../../../src/action.js";
import { harness, T0, useRedis } from "./harness.js";

const M = 60_000;
const env = useRedis();

describe("controller: gates end to end", () => {
  it("the breaker opens at 60 % of hosts failing, enqueues nothing, and closes when they recover", async () => {
    const h = harness(env.redis(), { breaker: { unhealthyFraction: 0.5, minHosts: 3 } });
    h.healthyAll();
    h.failUnit("a");
    h.failUnit("b");
    h.observe("c", { state: "unreachable" });
    const r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.key, a.blockedBy])).toEqual([
      ["restart__fedi__a", "breaker"],
      ["restart__fedi__b", "breaker"],
    ]);
    expect(h.queue.requests).toEqual([]);
    expect(await h.metric("nixguard_breaker_open")).toContain("nixguard_breaker_open 1");
    expect(await h.metric("nixguard_actions_blocked_total")).toContain(
      'nixguard_actions_blocked_total{deployment="fedi",reason="breaker"} 2',
    );
    const opened = (await h.events.list()).filter((e) => e.kind === "breaker");
    expect(opened.map((e) => e.outcome)).toEqual(["open"]);
    expect(opened[0]?.reason).toBe("3 of 5 hosts bad (threshold 0.5)");
    expect((await h.ctl.status()).breaker).toMatchObject({ open: true, bad: 3, total: 5 });

    // still open on the next pass: no second event, no second count
    await h.ctl.reconcile("fedi");
    expect(await h.metric("nixguard_actions_blocked_total")).toContain(
      'nixguard_actions_blocked_total{deployment="fedi",reason="breaker"} 2',
    );

    h.observe("c", { state: "healthy" });
    h.observe("b", { state: "healthy" });
    const after = await h.ctl.reconcile("fedi");
    expect(after.actions.map((a) => [a.decision, a.key])).toEqual([["enqueued", "restart__fedi__a"]]);
    expect(await h.metric("nixguard_breaker_open")).toContain("nixguard_breaker_open 0");
    const breakerEvents = (await h.events.list()).filter((e) => e.kind === "breaker").map((e) => e.outcome);
    expect(breakerEvents).toEqual(["open", "closed"]);
  });

  it("dry-run mode enqueues nothing and records once what it would do", async () => {
    const h = harness(env.redis(), { mode: "dry-run" });
    h.healthyAll();
    h.failUnit("a");
    for (let i = 0; i < 3; i++) {
      const r = await h.ctl.reconcile("fedi");
      expect(r.actions.map((a) => [a.blockedBy, a.detail])).toEqual([
        ["mode", "dry-run: would restart a.service on fedi/a"],
      ]);
    }
    expect(h.queue.requests).toEqual([]);
    const blocked = (await h.events.list()).filter((e) => e.kind === "blocked");
    expect(blocked.map((e) => e.reason)).toEqual(["mode: dry-run: would restart a.service on fedi/a"]);
    expect(await h.metric("nixguard_actions_blocked_total")).toContain(
      'nixguard_actions_blocked_total{deployment="fedi",reason="mode"} 1',
    );
  });

  it("a dry-run reconcile request plans without enqueuing or recording", async () => {
    const h = harness(env.redis());
    h.healthyAll();
    h.failUnit("a");
    const r = await h.ctl.reconcile("fedi", { dryRun: true });
    expect(r.actions.map((a) => [a.decision, a.key])).toEqual([["planned", "restart__fedi__a"]]);
    expect(h.queue.requests).toEqual([]);
    expect(await h.events.list()).toEqual([]);
    expect((await h.store.load(h.loaded.desired.deployments[0]!)).attempts).toEqual({});
  });

  it("a maintenance window blocks until it ends", async () => {
    const h = harness(env.redis(), { maintenance: [{ cron: "0 2 * * 0", duration: "2h" }] });
    h.healthyAll();
    h.clock.now = T0 + 150 * M; // Sunday 02:30 UTC
    h.failUnit("a");
    const r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]).toMatchObject({ blockedBy: "maintenance", until: T0 + 240 * M });
    expect(r.requeueAfterMs).toBe(90 * M);
    expect(h.queue.requests).toEqual([]);
    expect((await h.ctl.status()).maintenance).toEqual([{ cron: "0 2 * * 0", until: T0 + 240 * M }]);
    h.clock.now = T0 + 240 * M;
    expect((await h.ctl.reconcile("fedi")).actions[0]?.decision).toBe("enqueued");
  });

  it("pauses block automatic and manual actions; force and expiry let them through", async () => {
    const h = harness(env.redis());
    h.healthyAll();
    h.failUnit("a");
    await h.ctl.pause({ kind: "host", deployment: "fedi", host: "a" }, "disk swap", "alice", T0 + 30 * M);
    expect(await h.metric("nixguard_paused")).toContain('nixguard_paused{scope="host/fedi/a"} 1');
    const r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]).toMatchObject({
      blockedBy: "paused",
      detail: "host fedi/a paused by alice: disk swap",
    });

    const restart: Action = { kind: "restart", deployment: "fedi", host: "a", units: ["a.service"] };
    expect((await h.ctl.requestAction(restart, { actor: "bob" })).blockedBy).toBe("paused");
    const forced = await h.ctl.requestAction(restart, { actor: "bob", force: true });
    expect(forced).toMatchObject({ decision: "enqueued", enqueue: "added" });
    expect(h.queue.requests.map((q) => q.actor)).toEqual(["bob"]);
    // manual actions spend no budget and no attempts
    expect((await h.store.load(h.loaded.desired.deployments[0]!)).budget.global).toEqual([]);

    await h.finish("restart__fedi__a");
    h.clock.now = T0 + 31 * M;
    const later = await h.ctl.reconcile("fedi");
    expect(later.actions[0]?.decision).toBe("enqueued");
    expect(await h.metric("nixguard_paused")).toContain('nixguard_paused{scope="host/fedi/a"} 0');
    expect((await h.ctl.status()).pauses).toEqual([]);
  });

  it("resume of a scope that is not paused is NOT_FOUND; unknown deployments are NOT_FOUND", async () => {
    const h = harness(env.redis());
    await expect(h.ctl.resume({ kind: "global" }, "alice")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(h.ctl.reconcile("nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      h.ctl.requestAction(
        { kind: "restart", deployment: "fedi", host: "zz", units: ["a.service"] },
        { actor: "x" },
      ),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("a scheduled redeploy goes through the same gates", async () => {
    const h = harness(env.redis());
    h.healthyAll();
    await h.ctl.pause({ kind: "global" }, "freeze", "alice");
    expect((await h.ctl.scheduledRedeploy("fedi")).blockedBy).toBe("paused");
    await h.ctl.resume({ kind: "global" }, "alice");
    const d = await h.ctl.scheduledRedeploy("fedi");
    expect(d).toMatchObject({ decision: "enqueued", key: "redeploy__fedi" });
    expect(h.queue.requests[0]).toMatchObject({ actor: "schedule", reason: "schedule" });
  });

  it("a process that does not lead takes the breaker from the leader's record and never writes it", async () => {
    let leading = false;
    const leader = {
      isLeader: () => leading,
      fencingToken: () => (leading ? 1 : undefined),
      fence: () => undefined,
    };
    const h = harness(env.redis(), { breaker: { unhealthyFraction: 0.5, minHosts: 3 } }, leader);
    // The leader (another process) saw the fleet fail and opened the breaker; this one saw nothing.
    await h.store.setBreaker({ open: true, since: T0 - 60_000, bad: 4, total: 5 });
    const restart: Action = { kind: "restart", deployment: "fedi", host: "a", units: ["a.service"] };
    const d = await h.ctl.requestAction(restart, { actor: "alice" });
    expect(d).toMatchObject({ decision: "blocked", blockedBy: "breaker" });
    expect(h.queue.requests).toEqual([]);
    expect(await h.store.breaker()).toEqual({ open: true, since: T0 - 60_000, bad: 4, total: 5 });
    expect((await h.events.list()).filter((e) => e.kind === "breaker")).toEqual([]);
    expect((await h.ctl.status()).breaker).toMatchObject({ open: true, bad: 4, total: 5 });
    await expect(h.ctl.scheduledRedeploy("fedi")).rejects.toMatchObject({ code: "CONFLICT" });

    // Leading now, with every host healthy: it closes the breaker, once.
    leading = true;
    h.healthyAll();
    expect(await h.ctl.requestAction(restart, { actor: "alice" })).toMatchObject({ decision: "enqueued" });
    expect(await h.store.breaker()).toMatchObject({ open: false });
    expect((await h.events.list()).filter((e) => e.kind === "breaker").map((e) => e.outcome)).toEqual([
      "closed",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { check } from "../../unit/controller/fixtures.js";
import { harness, useRedis } from "./harness.js";

const S = 1_000;
const M = 60 * S;
const env = useRedis();

describe("controller: remediation ladder end to end", () => {
  it("restarts, waits for the outcome and the settle period, restarts again, then redeploys", async () => {
    const h = harness(env.redis(), { restartAttempts: 2, settle: "2m", backoff: { initial: "30s" } });
    h.healthyAll();
    h.failUnit("a");
    let r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.key])).toEqual([["enqueued", "restart__fedi__a"]]);
    expect(h.queue.requests[0]).toMatchObject({ actor: "controller", reason: "a.service failing" });

    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => a.blockedBy)).toEqual(["inflight"]);
    expect(h.queue.requests).toHaveLength(1);

    h.clock.now += 10 * S;
    await h.finish("restart__fedi__a");
    r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]).toMatchObject({
      blockedBy: "inflight",
      detail: expect.stringContaining("settling"),
    });
    expect(r.requeueAfterMs).toBe(2 * M);

    h.clock.now += 2 * M;
    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.key])).toEqual([["enqueued", "restart__fedi__a"]]);
    h.clock.now += 10 * S;
    await h.finish("restart__fedi__a");
    h.clock.now += 2 * M;
    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.action])).toEqual([
      ["enqueued", { kind: "redeploy", deployment: "fedi", target: "fedi" }],
    ]);
    const kinds = (await h.events.list()).map((e) => e.kind);
    expect(kinds.filter((k) => k === "action")).toHaveLength(3);
    expect(kinds).toContain("outcome");
  });

  it("backoff grows to its cap and resets only after sustained health", async () => {
    const h = harness(env.redis(), {
      settle: "1s",
      backoff: { initial: "30s", factor: 2, max: "2m", resetAfter: "10m" },
      budget: { deployment: { max: 100, window: "1h" }, global: { max: 100, window: "1h" } },
    });
    h.healthyAll();
    const failMastodon = () => h.failUnit("mastodon", "mastodon-web.service", { missing: true });
    failMastodon();
    const key = "redeploy__fedi__mastodon";
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await h.ctl.reconcile("fedi");
      if (r.actions[0]?.decision !== "enqueued") {
        // blocked by backoff: jump to the moment it opens
        expect(r.actions[0]?.blockedBy).toBe("backoff");
        waits.push((r.actions[0]?.until ?? 0) - h.clock.now);
        h.clock.now = r.actions[0]?.until ?? h.clock.now;
        const again = await h.ctl.reconcile("fedi");
        expect(again.actions[0]?.decision).toBe("enqueued");
      }
      expect(h.queue.requests.at(-1)?.action).toEqual({
        kind: "redeploy",
        deployment: "fedi",
        target: "fedi.mastodon",
        host: "mastodon",
      });
      await h.finish(key);
      h.clock.now += 2 * S; // past settle, inside backoff
    }
    // the first enqueue was immediate; then 30 s, 60 s, 120 s, capped at 120 s
    expect(waits.map((w) => w + 2 * S)).toEqual([30 * S, 60 * S, 120 * S, 120 * S, 120 * S]);

    // healthy for 9 minutes: not sustained enough, the backoff stays at its cap
    h.observe("mastodon", { state: "healthy" });
    h.clock.now += 9 * M;
    await h.ctl.reconcile("fedi");
    expect((await h.store.backoff(key))?.attempts).toBe(6);
    failMastodon();
    h.clock.now += 1 * S;
    let r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]?.decision).toBe("enqueued"); // the 9 minutes outlasted the 2 min cap
    await h.finish(key);
    h.clock.now += 2 * S;
    r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]).toMatchObject({ blockedBy: "backoff" });
    expect((r.actions[0]?.until ?? 0) - h.clock.now).toBe(120 * S - 2 * S);

    // healthy for the full 10 minutes: reset, the next failure starts again from 30 s
    h.observe("mastodon", { state: "healthy" });
    h.clock.now += 10 * M;
    await h.ctl.reconcile("fedi");
    expect(await h.store.backoff(key)).toBeUndefined();
    failMastodon();
    r = await h.ctl.reconcile("fedi");
    expect(r.actions[0]?.decision).toBe("enqueued");
    await h.finish(key);
    h.clock.now += 2 * S;
    r = await h.ctl.reconcile("fedi");
    expect((r.actions[0]?.until ?? 0) - h.clock.now).toBe(30 * S - 2 * S);
  });

  it("budget exhaustion, then quarantine, then an API reset lets it act again", async () => {
    const h = harness(env.redis(), {
      restartAttempts: 0,
      settle: "1s",
      backoff: { initial: "1s", max: "1s" },
      budget: { deployment: { max: 2, window: "1h" }, global: { max: 10, window: "1h" } },
      quarantine: { cooldown: "6h" },
    });
    h.healthyAll();
    h.failUnit("a");
    for (let i = 0; i < 2; i++) {
      const r = await h.ctl.reconcile("fedi");
      expect(r.actions.map((a) => [a.decision, a.key])).toEqual([["enqueued", "redeploy__fedi"]]);
      await h.finish("redeploy__fedi", "failed");
      h.clock.now += 2 * S;
    }
    let r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.action])).toEqual([
      ["quarantined", { kind: "quarantine", deployment: "fedi", host: "a" }],
    ]);
    expect(await h.metric("nixguard_quarantined")).toContain(
      'nixguard_quarantined{deployment="fedi",host="a"} 1',
    );
    const q = (await h.events.list({ host: "a" })).filter((e) => e.kind === "quarantine");
    expect(q).toHaveLength(1);
    expect(q[0]?.reason).toContain("redeploy did not heal within the budget");
    expect((await h.ctl.status()).quarantined.map((e) => e.host)).toEqual(["a"]);

    // held from now on, and not quarantined twice
    h.clock.now += 10 * M;
    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => a.decision)).toEqual(["blocked"]);
    expect(h.queue.requests).toHaveLength(2);

    const reset = await h.ctl.reset({ kind: "host", deployment: "fedi", host: "a" }, "alice");
    expect(reset.cleared.sort()).toEqual(["backoff", "budget", "quarantine"]);
    expect(await h.metric("nixguard_quarantined")).toContain(
      'nixguard_quarantined{deployment="fedi",host="a"} 0',
    );
    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.key])).toEqual([["enqueued", "redeploy__fedi"]]);
    expect(h.queue.requests).toHaveLength(3);
  });

  it("records the system after its own apply and redeploys on drift", async () => {
    const h = harness(env.redis(), { settle: "1s" });
    h.healthyAll();
    const r0 = await h.ctl.requestAction(
      { kind: "redeploy", deployment: "fedi", target: "fedi" },
      { actor: "alice" },
    );
    expect(r0.decision).toBe("enqueued");
    // the apply switches b to a new system: not drift, NixGuard did it
    h.observe("b", { state: "healthy", currentSystem: "/nix/store/mid-apply-system" });
    h.clock.now += 30 * S;
    await h.finish("redeploy__fedi");
    h.clock.now += 1 * S;
    h.observe("b", {
      state: "healthy",
      currentSystem: "/nix/store/ours-system",
      systemAt: h.clock.now,
      lastObservedAt: h.clock.now,
    });
    h.clock.now += 2 * S;
    let r = await h.ctl.reconcile("fedi");
    expect(r.actions).toEqual([]);
    expect((await h.store.load(h.loaded.desired.deployments[0]!)).generations["b"]).toBe(
      "/nix/store/ours-system",
    );

    // someone switches b by hand
    h.observe("b", { state: "healthy", currentSystem: "/nix/store/theirs-system" });
    r = await h.ctl.reconcile("fedi");
    expect(r.actions.map((a) => [a.decision, a.reason])).toEqual([
      [
        "enqueued",
        "b: drift (b has no nixops4 target of its own: redeploying deployment fedi's target fedi, all its hosts)",
      ],
    ]);
    expect(await h.metric("nixguard_drift")).toContain('nixguard_drift{deployment="fedi",host="b"} 1');
    expect((await h.events.list()).some((e) => e.kind === "drift" && e.host === "b")).toBe(true);
  });

  it("a rerun queued behind an apply keeps its hosts pending: its own switch is not drift", async () => {
    const h = harness(env.redis(), { settle: "1s" });
    h.healthyAll();
    const redeploy = { kind: "redeploy", deployment: "fedi", target: "fedi" } as const;
    expect((await h.ctl.requestAction(redeploy, { actor: "alice" })).enqueue).toBe("added");
    h.queue.start("redeploy__fedi");
    expect((await h.ctl.requestAction(redeploy, { actor: "bob" })).enqueue).toBe("rerun-scheduled");
    h.clock.now += 30 * S;
    await h.finish("redeploy__fedi"); // alice's apply; bob's now waits
    h.clock.now += 1 * S;
    h.observe("b", { state: "healthy", currentSystem: "/nix/store/first-system", systemAt: h.clock.now });
    h.clock.now += 2 * S;
    await h.ctl.reconcile("fedi");
    const state = await h.store.load(h.loaded.desired.deployments[0]!);
    expect(state.generations["b"]).toBeUndefined();
    expect(state.generationPending["b"]).toBe(0);

    // bob's apply switches b again: NixGuard's doing, recorded after its outcome, never drift.
    h.queue.start("redeploy__fedi");
    h.observe("b", { state: "healthy", currentSystem: "/nix/store/second-system", systemAt: h.clock.now });
    expect((await h.ctl.reconcile("fedi")).actions).toEqual([]);
    h.clock.now += 30 * S;
    await h.finish("redeploy__fedi");
    h.clock.now += 1 * S;
    h.observe("b", { state: "healthy", currentSystem: "/nix/store/second-system", systemAt: h.clock.now });
    h.clock.now += 2 * S;
    expect((await h.ctl.reconcile("fedi")).actions).toEqual([]);
    expect((await h.store.load(h.loaded.desired.deployments[0]!)).generations["b"]).toBe(
      "/nix/store/second-system",
    );
    expect((await h.events.list()).filter((e) => e.kind === "drift")).toEqual([]);
  });

  it("with drift: alert, reports drift but does not redeploy", async () => {
    const h = harness(env.redis(), { drift: "alert" });
    h.healthyAll();
    await h.store.recordGeneration("fedi", "c", "/nix/store/ours-system");
    h.observe("c", {
      state: "healthy",
      currentSystem: "/nix/store/theirs-system",
      checks: { x: check("x", "healthy") },
    });
    const r = await h.ctl.reconcile("fedi");
    expect(r.actions).toEqual([]);
    expect(await h.metric("nixguard_drift")).toContain('nixguard_drift{deployment="fedi",host="c"} 1');
  });
});

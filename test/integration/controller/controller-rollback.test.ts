import { describe, expect, it } from "vitest";
import type { HostHealth } from "../../../src/controller/types.js";
import { systemStorePath } from "../../../src/sim/store-path.js";
import { check } from "../../unit/controller/fixtures.js";
import { harness, useRedis } from "./harness.js";

const S = 1_000;
const M = 60 * S;
const env = useRedis();
const gen = (host: string, n: number) => systemStorePath(host, n);
const REMEDIATION = {
  restartAttempts: 2,
  settle: "2m",
  backoff: { initial: "30s" },
  rollback: { knownGoodAfter: "6m", afterRestarts: 1 },
};

/** A rig where hosts run generations: `on(host, n)` observes it up on generation n, `broken` failing. */
function rig(remediation: object = REMEDIATION) {
  const h = harness(env.redis(), remediation);
  const upSince = new Map<string, number>();
  const on = (host: string, n: number, extra: Partial<HostHealth> = {}) => {
    if (!upSince.has(host)) upSince.set(host, h.clock.now);
    h.observe(host, {
      state: "healthy",
      since: upSince.get(host) as number,
      currentSystem: gen(host, n),
      systemAt: h.clock.now,
      ...extra,
    });
  };
  const failingSince = new Map<string, number>();
  const broken = (
    host: string,
    n: number,
    unit = host === "mastodon" ? "mastodon-web.service" : "a.service",
  ) => {
    upSince.delete(host);
    if (!failingSince.has(host)) failingSince.set(host, h.clock.now);
    h.observe(host, {
      state: "failing",
      since: failingSince.get(host) as number,
      currentSystem: gen(host, n),
      systemAt: h.clock.now,
      checks: { [unit]: check(unit, "failing") },
    });
  };
  const healed = (host: string) => failingSince.delete(host);
  const decisions = (r: { actions: { decision: string; key: string; blockedBy?: string }[] }) =>
    r.actions.map((a) => `${a.decision} ${a.blockedBy ?? a.key}`);
  /** Failing on n: a restart is queued, finishes, the settle period passes, still failing; the next pass. */
  const restartDoesNotHeal = async (host: string, n: number) => {
    broken(host, n);
    const first = await h.ctl.reconcile("fedi");
    expect(decisions(first)).toEqual([`enqueued restart__fedi__${host}`]);
    h.clock.now += 10 * S;
    await h.finish(`restart__fedi__${host}`);
    h.clock.now += 2 * M;
    broken(host, n);
    return h.ctl.reconcile("fedi");
  };
  return { ...h, on, broken, healed, decisions, restartDoesNotHeal };
}

/** Every host up on generation 1 long enough to be known-good, then on `n` (switched at once). */
async function knownGoodThenSwitch(r: ReturnType<typeof rig>, hosts: string[], n: number) {
  for (const host of ["a", "b", "c", "d", "mastodon"]) r.on(host, 1);
  await r.ctl.reconcile("fedi");
  r.clock.now += 7 * M;
  for (const host of ["a", "b", "c", "d", "mastodon"]) r.on(host, 1);
  await r.ctl.reconcile("fedi");
  r.clock.now += 10 * S;
  for (const host of hosts) r.on(host, n);
  await r.ctl.reconcile("fedi");
}

describe("controller: last-known-good rollback", () => {
  it("remembers each generation with who switched to it; known-good after knownGoodAfter up", async () => {
    const r = rig();
    r.on("mastodon", 1);
    await r.ctl.reconcile("fedi");
    let mem = (await r.ctl.generations("fedi", "mastodon")).memory;
    expect(mem.entries).toMatchObject([{ path: gen("mastodon", 1), by: "other", verdict: "unknown" }]);
    r.clock.now += 6 * M;
    r.on("mastodon", 1);
    await r.ctl.reconcile("fedi");
    mem = (await r.ctl.generations("fedi", "mastodon")).memory;
    expect(mem.entries[0]).toMatchObject({ verdict: "good", verdictAt: r.clock.now });
    // NixGuard's own apply: the switch it brings is NixGuard's.
    await r.ctl.requestAction(
      { kind: "redeploy", deployment: "fedi", target: "fedi.mastodon", host: "mastodon" },
      { actor: "ops" },
    );
    r.clock.now += 30 * S;
    await r.finish("redeploy__fedi__mastodon");
    r.on("mastodon", 2);
    await r.ctl.reconcile("fedi");
    mem = (await r.ctl.generations("fedi", "mastodon")).memory;
    expect(mem.current).toBe(gen("mastodon", 2));
    expect(mem.entries[0]).toMatchObject({ path: gen("mastodon", 2), by: "nixguard", verdict: "unknown" });
  });

  it("a deploy breaks a host, a restart does not heal it → rolled back to known-good, held, never redeployed", async () => {
    const r = rig();
    await knownGoodThenSwitch(r, ["mastodon"], 2);
    r.clock.now += 30 * S;
    let res = await r.restartDoesNotHeal("mastodon", 2);
    expect(r.decisions(res)).toEqual(["enqueued rollback__fedi__mastodon"]);
    expect(res.actions[0]?.action).toEqual({
      kind: "rollback",
      deployment: "fedi",
      host: "mastodon",
      to: [gen("mastodon", 1)],
      from: gen("mastodon", 2),
      broke: "mastodon-web.service",
    });
    expect(res.actions[0]?.reason).toContain("redeploy skipped: it would apply");
    let mem = (await r.ctl.generations("fedi", "mastodon")).memory;
    expect(mem.entries.find((e) => e.path === gen("mastodon", 2))).toMatchObject({
      verdict: "bad",
      reason: "mastodon-web.service",
    });

    r.clock.now += 20 * S;
    await r.finish("rollback__fedi__mastodon", "success", { switchedTo: gen("mastodon", 1) });
    r.healed("mastodon");
    r.clock.now += 5 * S;
    r.on("mastodon", 1);
    const { hold } = await r.ctl.generations("fedi", "mastodon");
    expect(hold).toMatchObject({
      bad: gen("mastodon", 2),
      to: gen("mastodon", 1),
      reason: "mastodon-web.service",
    });
    expect((await r.ctl.status()).held).toHaveLength(1);
    expect(await r.metric("nixguard_held")).toContain('nixguard_held{deployment="fedi",host="mastodon"} 1');

    // Healthy on the known-good generation: nothing to do, and its system is NixGuard's (no drift).
    for (let i = 0; i < 3; i++) {
      r.clock.now += 2 * M;
      r.on("mastodon", 1);
      res = await r.ctl.reconcile("fedi");
      expect(res.actions).toEqual([]);
    }
    expect((await r.ctl.status()).drift).toEqual([]);
    // A schedule would bring generation 2 back: blocked, saying why.
    const sched = await r.ctl.scheduledRedeploy("fedi");
    expect(sched).toMatchObject({ decision: "blocked", blockedBy: "held" });
    expect(sched.detail).toContain(`broke mastodon-web.service on fedi/mastodon`);
    expect(r.queue.requests.filter((q) => q.action.kind === "redeploy")).toEqual([]);

    const events = await r.events.list();
    const hold1 = events.filter((e) => e.kind === "hold");
    expect(hold1).toHaveLength(1);
    expect(hold1[0]?.reason).toMatch(
      /nixos-system-mastodon-.* broke mastodon-web.service on fedi\/mastodon; held at nixos-system-mastodon-/,
    );
    expect(events.filter((e) => e.kind === "cause")).toHaveLength(1);
    expect(events.filter((e) => e.kind === "outcome" && e.action === "rollback")).toHaveLength(1);

    // The fix arrives: a third generation ends the hold.
    r.clock.now += M;
    r.on("mastodon", 3);
    await r.ctl.reconcile("fedi");
    expect((await r.ctl.generations("fedi", "mastodon")).hold).toBeUndefined();
    const released = (await r.events.list()).filter((e) => e.kind === "hold" && e.outcome === "released");
    expect(released).toHaveLength(1);
    expect(await r.metric("nixguard_held")).toContain('nixguard_held{deployment="fedi",host="mastodon"} 0');
    mem = (await r.ctl.generations("fedi", "mastodon")).memory;
    expect(mem.current).toBe(gen("mastodon", 3));
  });

  it("without a known-good generation the ladder goes on as before (restarts, then redeploy)", async () => {
    const r = rig();
    const res = await r.restartDoesNotHeal("a", 5);
    expect(r.decisions(res)).toEqual(["enqueued restart__fedi__a"]);
  });

  it("rollback off: the ladder as before", async () => {
    const r = rig({ ...REMEDIATION, rollback: { mode: "off", knownGoodAfter: "6m" } });
    await knownGoodThenSwitch(r, ["a"], 2);
    expect(r.decisions(await r.restartDoesNotHeal("a", 2))).toEqual(["enqueued restart__fedi__a"]);
    r.clock.now += 10 * S;
    await r.finish("restart__fedi__a");
    r.clock.now += 2 * M;
    r.broken("a", 2);
    const res = await r.ctl.reconcile("fedi");
    expect(r.decisions(res)).toEqual(["enqueued redeploy__fedi"]);
  });

  it("dry-run shows the rollback it would make", async () => {
    const r = rig({ ...REMEDIATION, mode: "dry-run", rollback: { knownGoodAfter: "6m", afterRestarts: 0 } });
    await knownGoodThenSwitch(r, ["a"], 2);
    r.broken("a", 2);
    const res = await r.ctl.reconcile("fedi");
    expect(res.actions).toHaveLength(1);
    expect(res.actions[0]).toMatchObject({
      decision: "blocked",
      blockedBy: "mode",
      key: "rollback__fedi__a",
    });
    expect(res.actions[0]?.detail).toBe(`dry-run: would roll fedi/a back to ${gen("a", 1)}`);
  });

  it("one apply breaking several hosts: each rolled back within the budget, the apply named once", async () => {
    const r = rig({
      ...REMEDIATION,
      budget: { deployment: { max: 2, window: "1h" }, global: { max: 10, window: "1h" } },
      rollback: { knownGoodAfter: "6m", afterRestarts: 0 },
      breaker: { minHosts: 10 },
    });
    await knownGoodThenSwitch(r, ["a", "b", "c"], 2);
    r.clock.now += 30 * S;
    for (const host of ["a", "b", "c"]) r.broken(host, 2);
    // One action per deployment at a time (in flight / settle), two within the budget.
    let res = await r.ctl.reconcile("fedi");
    expect(r.decisions(res)).toEqual(["enqueued rollback__fedi__a", "blocked inflight", "blocked inflight"]);
    r.clock.now += 20 * S;
    await r.finish("rollback__fedi__a", "success", { switchedTo: gen("a", 1) });
    r.healed("a");
    r.on("a", 1);
    r.clock.now += 2 * M;
    res = await r.ctl.reconcile("fedi");
    expect(r.decisions(res)).toEqual(["enqueued rollback__fedi__b", "blocked inflight"]);
    r.clock.now += 20 * S;
    await r.finish("rollback__fedi__b", "success", { switchedTo: gen("b", 1) });
    r.healed("b");
    r.on("b", 1);
    r.clock.now += 2 * M;
    res = await r.ctl.reconcile("fedi");
    expect(r.decisions(res)).toEqual(["blocked budget"]);
    const events = await r.events.list();
    const causes = events.filter((e) => e.kind === "cause");
    expect(causes).toHaveLength(1);
    expect(causes[0]?.reason).toMatch(/^a deploy by someone else of fedi first seen .* broke a/);
    expect(events.filter((e) => e.kind === "hold").map((e) => e.host)).toEqual(["a", "b"]);
    const holds = (await r.ctl.status()).held;
    expect(new Set(holds.map((h) => h.cause)).size).toBe(1);
  });

  it("a rollback refused because the generation is gone quarantines the host", async () => {
    const r = rig({ ...REMEDIATION, rollback: { knownGoodAfter: "6m", afterRestarts: 0 } });
    await knownGoodThenSwitch(r, ["d"], 2);
    r.broken("d", 2);
    expect(r.decisions(await r.ctl.reconcile("fedi"))).toEqual(["enqueued rollback__fedi__d"]);
    await r.finish("rollback__fedi__d", "not-found", { message: `${gen("d", 1)} is no longer on the host` });
    const q = (await r.ctl.status()).quarantined;
    expect(q).toMatchObject([
      { deployment: "fedi", host: "d", reason: expect.stringContaining("rollback refused") },
    ]);
    expect((await r.ctl.generations("fedi", "d")).hold).toBeUndefined();
  });

  it("an operator releases a hold; a manual rollback refuses when nothing known-good is remembered", async () => {
    const r = rig({ ...REMEDIATION, rollback: { knownGoodAfter: "6m", afterRestarts: 0 } });
    await knownGoodThenSwitch(r, ["b"], 2);
    r.broken("b", 2);
    await r.ctl.reconcile("fedi");
    await r.finish("rollback__fedi__b", "success", { switchedTo: gen("b", 1) });
    await r.ctl.release("fedi", "b", "ops");
    expect((await r.ctl.generations("fedi", "b")).hold).toBeUndefined();
    await expect(r.ctl.release("fedi", "b", "ops")).rejects.toMatchObject({ code: "NOT_FOUND" });
    const released = (await r.events.list()).find((e) => e.kind === "hold" && e.outcome === "released");
    expect(released).toMatchObject({ actor: "ops", host: "b" });
    await expect(r.ctl.requestRollback("fedi", "c", undefined, { actor: "ops" })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    r.on("c", 1);
    const d = await r.ctl.requestRollback("fedi", "c", 7, { actor: "ops" });
    expect(d.action).toEqual({ kind: "rollback", deployment: "fedi", host: "c", to: [], toGeneration: 7 });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { Controller } from "../../../src/controller/controller.js";
import { EventLog } from "../../../src/controller/events.js";
import { UNTIL_RESET } from "../../../src/controller/policy/quarantine.js";
import { StateStore } from "../../../src/controller/state-store.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";
import { BullActionQueue } from "../../../src/queue/producer.js";
import { type ActionWorker, startWorker } from "../../../src/queue/worker.js";
import { FAKE_NIXOPS4, type FakeFlake, makeFakeFlake } from "../../helpers/fake-nixops4.js";
import { check, hostHealth } from "../../unit/controller/fixtures.js";
import { RecordingTransport } from "../queue/harness.js";
import { healthBook, useRedis } from "./harness.js";

const env = useRedis();
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Controller → real BullMQ queue → real worker running the fake nixops4 → outcome back. */
async function rig(flake: FakeFlake) {
  const loaded = parseConfig({
    remediation: { settle: "1m", restartAttempts: 0 },
    deployments: {
      fedi: {
        flake: flake.dir,
        target: "fedi",
        hosts: {
          a: { address: "127.0.0.1", transport: "local", units: ["a.service"] },
          b: { address: "127.0.0.1", transport: "local", units: ["a.service"] },
        },
      },
    },
  });
  const prefix = `e2e${Date.now()}${Math.random().toString(16).slice(2, 8)}`;
  const logger = silentLogger();
  const metrics = createMetrics({ version: "test", processMetrics: false });
  const queue = new BullActionQueue({ connection: env.server().url, prefix, logger });
  const store = new StateStore(env.redis(), prefix);
  const events = new EventLog(env.redis(), prefix);
  const reprobed: string[] = [];
  const health = healthBook(loaded, metrics, (h, prev) => ctl.observe(h, prev));
  const ctl: Controller = new Controller({
    getConfig: () => loaded,
    queue,
    store,
    events,
    health,
    metrics,
    logger,
    reprobe: async (_d, host) => {
      reprobed.push(host);
    },
  });
  const outcomes: string[] = [];
  const transports = new TransportRegistry((h) => new RecordingTransport(h));
  const worker: ActionWorker = await startWorker({
    connection: env.server().url,
    prefix,
    concurrency: 2,
    logger,
    metrics,
    getDesired: () => loaded.desired,
    borrow: (h) => transports.borrow(h),
    nixops4: {
      command: FAKE_NIXOPS4,
      timeout: 20_000,
      interruptGrace: 1_000,
      killGrace: 1_000,
      stragglerGrace: 200,
      extraArgs: [],
    },
    lockTtlMs: 3_000,
    logLimitBytes: 64 * 1024,
    restartTimeoutMs: () => 20_000,
    onOutcome: async (o) => {
      await ctl.onOutcome(o);
      outcomes.push(o.outcome);
    },
  });
  cleanup.push(async () => {
    await worker.close(1_000);
    await queue.queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    flake.cleanup();
  });
  return { ctl, health, queue, store, events, outcomes, reprobed, loaded, metrics };
}

/** a's unit is missing (a redeploy is called for), b is healthy. */
function observeMissingUnitOnA(health: Awaited<ReturnType<typeof rig>>["health"]): void {
  const now = Date.now();
  health.judge({
    ...hostHealth("a", "failing", [check("a.service", "failing", { missing: true })]),
    since: now,
    lastObservedAt: now,
  });
  health.judge({ ...hostHealth("b", "healthy"), since: now - 60_000, lastObservedAt: now });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("controller with the real BullMQ queue and worker", () => {
  it("concurrent passes over one deployment start exactly one apply; the outcome settles it", async () => {
    const flake = makeFakeFlake("ctl");
    // Long enough that all 20 passes are planned while the apply runs, even on a loaded machine
    // (at 300 ms, CI once saw one pass come after the outcome: "settling", a right answer then).
    flake.control({ mode: "success", durationMs: 1_500 });
    const r = await rig(flake);
    observeMissingUnitOnA(r.health);

    const results = await Promise.all(Array.from({ length: 20 }, () => r.ctl.reconcile("fedi")));
    const decisions = results.flatMap((x) => x.actions.map((a) => a.enqueue ?? a.blockedBy));
    expect(decisions.filter((d) => d === "added")).toHaveLength(1);
    // The offending decisions themselves, should there be any.
    expect(decisions.filter((d) => d !== "added" && d !== "coalesced" && d !== "inflight")).toEqual([]);

    await until(() => r.outcomes.length === 1, 10_000);
    const starts = flake.calls().filter((c) => c.event === "start");
    expect(starts).toHaveLength(1);
    expect(starts[0]?.argv).toEqual(["apply", "--no-interactive", "--", "fedi"]);
    expect(starts[0]?.cwd).toBe(flake.dir);
    // one attempt and one budget slot for all 20 passes
    const state = await r.store.load(r.loaded.desired.deployments[0]!);
    expect(state.budget.deployment).toHaveLength(1);
    expect(state.inFlight).toEqual([]);
    expect(state.settleUntil).toBeGreaterThan(Date.now());
    expect(Object.keys(state.generationPending).sort()).toEqual(["a", "b"]);
    expect(r.reprobed.sort()).toEqual(["a", "b"]);
    const outcome = (await r.events.list()).find((e) => e.kind === "outcome");
    expect(outcome).toMatchObject({
      deployment: "fedi",
      action: "redeploy",
      outcome: "success",
      actor: "controller",
    });

    // settling now: nothing more
    const after = await r.ctl.reconcile("fedi");
    expect(after.actions[0]).toMatchObject({ blockedBy: "inflight" });
    expect(await r.queue.isInFlight("redeploy__fedi")).toBe(false);
  });

  it("an apply that exits 2 (usage error) runs once; the deployment's automatic redeploys stop with an alert naming the argv", async () => {
    const flake = makeFakeFlake("ctl-usage");
    flake.control({ mode: "success", rejectFlags: ["--no-interactive"] });
    const r = await rig(flake);
    observeMissingUnitOnA(r.health);
    const first = await r.ctl.reconcile("fedi");
    expect(first.actions[0]).toMatchObject({ enqueue: "added" });
    await until(() => r.outcomes.length === 1, 10_000);
    expect(r.outcomes).toEqual(["usage-error"]);
    const events = await r.events.list();
    const stop = events.find((e) => e.kind === "quarantine");
    expect(stop).toMatchObject({ deployment: "fedi", actor: "controller" });
    expect(stop?.reason).toContain("usage error, exit 2");
    expect(stop?.reason).toContain(`${FAKE_NIXOPS4} apply --no-interactive -- fedi`);
    expect(stop?.reason).toContain("unexpected argument '--no-interactive' found");
    const later = await r.ctl.reconcile("fedi");
    expect(later.actions.every((a) => a.decision === "blocked")).toBe(true);
    expect(flake.calls().filter((c) => c.event === "start")).toHaveLength(1);
    // No cooldown ends it (quarantine.cooldown is 6 h by default): only a reset does.
    const state = await r.store.load(r.loaded.desired.deployments[0]!);
    expect(state.quarantines).toEqual([expect.objectContaining({ deployment: "fedi", until: UNTIL_RESET })]);
  });

  it("a manual redeploy while one runs is scheduled once more, never run twice at once", async () => {
    const flake = makeFakeFlake("ctl2");
    flake.control({ mode: "success", durationMs: 800 });
    const r = await rig(flake);
    const action = { kind: "redeploy", deployment: "fedi", target: "fedi" } as const;
    const first = await r.ctl.requestAction({ ...action }, { actor: "alice" });
    expect(first.enqueue).toBe("added");
    await until(() => flake.calls().some((c) => c.event === "start"), 5_000);
    const second = await r.ctl.requestAction({ ...action }, { actor: "bob" });
    const third = await r.ctl.requestAction({ ...action }, { actor: "carol" });
    expect([second.enqueue, third.enqueue]).toEqual(["rerun-scheduled", "rerun-scheduled"]);
    // The first run's outcome leaves the rerun (the last request) marked in flight: until its own
    // outcome, passes see it and queue nothing more.
    await until(() => r.outcomes.length === 1, 10_000);
    expect((await r.store.inFlight("fedi")).map((e) => e.jobId)).toEqual([third.jobId]);
    await until(() => r.outcomes.length === 2, 10_000);
    expect(await r.store.inFlight("fedi")).toEqual([]);
    const calls = flake.calls();
    const starts = calls.filter((c) => c.event === "start").map((c) => c.t);
    const ends = calls.filter((c) => c.event === "end").map((c) => c.t);
    expect([starts.length, ends.length]).toEqual([2, 2]);
    expect(starts[1]).toBeGreaterThanOrEqual(ends[0] ?? Number.POSITIVE_INFINITY);
  });
});

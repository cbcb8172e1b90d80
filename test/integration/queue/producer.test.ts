import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig, type Rig } from "./harness.js";

let redis: TestRedis;
let rig: Rig | undefined;
let flake: FakeFlake | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await rig?.close();
  flake?.cleanup();
  rig = undefined;
  flake = undefined;
});

const redeploy = (reason = "test") => ({
  action: { kind: "redeploy" as const, deployment: "fedi", target: "fedi" },
  actor: "controller",
  reason,
});

describe("BullActionQueue", () => {
  it("adds, then coalesces while the job waits", async () => {
    rig = await makeRig(redis.url, () => desired([]));
    const a = await rig.queue.enqueue(redeploy());
    expect(a).toEqual({ state: "added", jobId: "redeploy__fedi..1" });
    const b = await rig.queue.enqueue(redeploy());
    expect(b).toEqual({ state: "coalesced", jobId: "redeploy__fedi..1" });
    expect(await rig.queue.isInFlight("redeploy__fedi")).toBe(true);
    expect(await rig.queue.isInFlight("redeploy__other")).toBe(false);
    expect(await rig.queue.counts()).toEqual({ waiting: 1, active: 0, delayed: 0, failed: 0 });
  });

  it("refuses quarantine: it is not a job", async () => {
    rig = await makeRig(redis.url, () => desired([]));
    await expect(
      rig.queue.enqueue({ action: { kind: "quarantine", deployment: "fedi" }, actor: "c", reason: "r" }),
    ).rejects.toMatchObject({ code: "USAGE" });
  });

  it("100 concurrent triggers → exactly one apply, plus at most one follow-up", async () => {
    flake = makeFakeFlake();
    flake.control({ mode: "success", durationMs: 800 });
    const f = flake;
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir }]));
    const r = rig;
    await r.startWorker({ concurrency: 4 });
    const first = await r.queue.enqueue(redeploy("first"));
    expect(first.state).toBe("added");
    // Wait until the apply runs, then fire 100 concurrent triggers at it.
    expect(await waitFor(() => f.calls().some((c) => c.event === "start"), 10_000)).toBe(true);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => r.queue.enqueue(redeploy(`t${i}`))),
    );
    const states = new Set(results.map((x) => x.state));
    expect(states.has("added")).toBe(false);
    expect(states.has("rerun-scheduled")).toBe(true);
    expect(await waitFor(async () => !(await r.queue.isInFlight("redeploy__fedi")), 15_000)).toBe(true);
    const starts = f.calls().filter((c) => c.event === "start");
    expect(starts.length).toBe(2); // the apply and one follow-up
    // Never overlapping: the follow-up started after the first ended.
    const ends = f.calls().filter((c) => c.event === "end");
    expect(starts[1]!.t).toBeGreaterThanOrEqual(ends[0]!.t);
    expect(r.outcomes.map((o) => o.outcome)).toEqual(["success", "success"]);
    // The follow-up ran with the data of the last request stored (latest wins).
    expect(r.outcomes[1]!.jobId).not.toBe(r.outcomes[0]!.jobId);
  });

  it("100 concurrent triggers while idle → one job", async () => {
    flake = makeFakeFlake();
    flake.control({ mode: "success" });
    const f = flake;
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir }]));
    const r = rig;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => r.queue.enqueue(redeploy(`t${i}`))),
    );
    expect(results.filter((x) => x.state === "added")).toHaveLength(1);
    expect(results.filter((x) => x.state === "coalesced")).toHaveLength(99);
    await r.startWorker();
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    expect(f.calls().filter((c) => c.event === "start")).toHaveLength(1);
  });

  it("cancelForHost drops the host's waiting jobs only", async () => {
    rig = await makeRig(redis.url, () => desired([]));
    const restart = (host: string) => ({
      action: { kind: "restart" as const, deployment: "fedi", host, units: ["a.service"] },
      actor: "c",
      reason: "r",
    });
    await rig.queue.enqueue(restart("web"));
    await rig.queue.enqueue(restart("db"));
    await rig.queue.enqueue({
      action: { kind: "redeploy", deployment: "fedi", target: "fedi.web", host: "web" },
      actor: "c",
      reason: "r",
    });
    expect(await rig.queue.cancelForHost("fedi", "web")).toBe(2);
    expect(await rig.queue.isInFlight("restart__fedi__web")).toBe(false);
    expect(await rig.queue.isInFlight("restart__fedi__db")).toBe(true);
    // The key is free again: a new request adds a new job.
    expect((await rig.queue.enqueue(restart("web"))).state).toBe("added");
  });

  it("keeps finished jobs bounded and lets a finished key run again", async () => {
    flake = makeFakeFlake();
    flake.control({ mode: "success" });
    const f = flake;
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir }]));
    const r = rig;
    // Same construction as the rig, with a small retention to observe the bound.
    const { BullActionQueue } = await import("../../../src/queue/producer.js");
    const { silentLogger } = await import("../../../src/log.js");
    const small = new BullActionQueue({
      connection: redis.url,
      prefix: r.prefix,
      logger: silentLogger(),
      jobOptions: { removeOnComplete: { count: 3 } },
    });
    try {
      await r.startWorker();
      for (let i = 0; i < 6; i++) {
        const res = await small.enqueue(redeploy(`run${i}`));
        expect(res.state).toBe("added");
        expect(await waitFor(() => r.outcomes.length === i + 1, 10_000)).toBe(true);
        await waitFor(async () => !(await small.isInFlight("redeploy__fedi")), 5_000);
      }
      expect(await small.queue.getCompletedCount()).toBe(3);
    } finally {
      await small.close();
    }
  });
});

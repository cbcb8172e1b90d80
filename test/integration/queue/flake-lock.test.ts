import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FlakeLock } from "../../../src/queue/flake-lock.js";
import { type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, freshPrefix, makeRig, type Rig } from "./harness.js";

let redis: TestRedis;
let client: Redis;
let rig: Rig | undefined;
let flakes: FakeFlake[] = [];
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const f of flakes) f.cleanup();
  flakes = [];
});

describe("FlakeLock", () => {
  it("one holder at a time; only the owner releases", async () => {
    const locks = new FlakeLock(client, freshPrefix(), { ttlMs: 5_000 });
    const a = await locks.tryAcquire("/srv/flake", "job-a");
    expect(a).toBeDefined();
    expect(await locks.tryAcquire("/srv/flake", "job-b")).toBeUndefined();
    expect(await locks.holder("/srv/flake")).toBe("job-a");
    // Another directory is independent.
    const other = await locks.tryAcquire("/srv/other", "job-c");
    expect(other).toBeDefined();
    await other?.release();
    // A stranger's release (a different token) does nothing: overwrite the value as if a
    // takeover happened, then let the old owner release.
    await client.set(a!.key, "stranger-token job-x", "PX", 5_000);
    await a!.release();
    expect(await locks.holder("/srv/flake")).toBe("job-x");
  });

  it("renews while held, and is taken over only after expiry", async () => {
    const locks = new FlakeLock(client, freshPrefix(), { ttlMs: 400 });
    const a = await locks.tryAcquire("/srv/flake", "job-a");
    await new Promise((r) => setTimeout(r, 1_000)); // 2.5 TTLs: alive only because it is renewed
    expect(await locks.tryAcquire("/srv/flake", "job-b")).toBeUndefined();
    expect(a!.lost.aborted).toBe(false);
    await a!.release();
    expect(await locks.tryAcquire("/srv/flake", "job-b")).toBeDefined();
  });

  it("a lock whose owner died expires and is taken over; the old owner learns it lost it", async () => {
    const prefix = freshPrefix();
    const locks = new FlakeLock(client, prefix, { ttlMs: 300 });
    const a = await locks.tryAcquire("/srv/flake", "job-a");
    // Simulate a dead owner: its key vanishes (expiry) and another takes the lock.
    await client.del(a!.key);
    const b = await new FlakeLock(client, prefix, { ttlMs: 300 }).acquire("/srv/flake", "job-b", 1_000);
    expect(b).toBeDefined();
    expect(await waitFor(() => a!.lost.aborted, 1_000)).toBe(true);
    expect(await locks.holder("/srv/flake")).toBe("job-b");
    await a!.release(); // must not free b's lock
    expect(await locks.holder("/srv/flake")).toBe("job-b");
    await b!.release();
  });

  it("two workers on one flake directory never overlap (timestamps from the fake)", async () => {
    const f = makeFakeFlake("shared");
    flakes.push(f);
    f.control({ mode: "success", durationMs: 400 });
    // Two deployments sharing one flake directory: different keys, so the queue alone would
    // run them at once; only the lock keeps them apart.
    rig = await makeRig(redis.url, () =>
      desired([
        { name: "alpha", flake: f.dir },
        { name: "beta", flake: f.dir },
        { name: "gamma", flake: f.dir },
      ]),
    );
    const r = rig;
    await r.startWorker({ concurrency: 2 });
    await r.startWorker({ concurrency: 2 });
    for (const name of ["alpha", "beta", "gamma"]) {
      await r.queue.enqueue({
        action: { kind: "redeploy", deployment: name, target: name },
        actor: "t",
        reason: "t",
      });
    }
    expect(await waitFor(() => r.outcomes.length === 3, 20_000)).toBe(true);
    expect(r.outcomes.every((o) => o.outcome === "success")).toBe(true);
    const calls = f.calls();
    const runs = calls
      .filter((c) => c.event === "start")
      .map((s) => ({ start: s.t, end: calls.find((e) => e.event === "end" && e.pid === s.pid)!.t }))
      .sort((x, y) => x.start - y.start);
    expect(runs).toHaveLength(3);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end);
  });
});

import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FlakeLock } from "../../../src/queue/flake-lock.js";
import { type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { startProxy } from "../../helpers/tcp-proxy.js";
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

  it("a renewal that never answers: the holder gives the lease up while the lock still exists", async () => {
    const proxy = await startProxy(redis.port);
    const viaProxy = new Redis(proxy.port, "127.0.0.1", { maxRetriesPerRequest: null });
    try {
      const locks = new FlakeLock(viaProxy, freshPrefix(), { ttlMs: 1_500, stopBeforeExpiryMs: 600 });
      const a = await locks.tryAcquire("/srv/flake", "job-a");
      await new Promise((r) => setTimeout(r, 700)); // renewed a few times
      expect(a!.lost.aborted).toBe(false);
      proxy.freeze(); // a silent network: renewals are sent and never answered
      expect(await waitFor(() => a!.lost.aborted, 3_000)).toBe(true);
      // Given up with time to spare for stopping the apply: the lock has not expired yet.
      const left = await client.pttl(a!.key);
      expect(left).toBeGreaterThan(200);
      expect((a!.lost.reason as Error).message).toBe("flake lock not renewable");
    } finally {
      viaProxy.disconnect();
      await proxy.close();
    }
  });

  it("refuses a TTL no longer than the time to stop an apply", () => {
    expect(() => new FlakeLock(client, freshPrefix(), { ttlMs: 1_000, stopBeforeExpiryMs: 1_000 })).toThrow(
      /must be longer than the time to stop an apply/,
    );
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

  it("an apply whose lock was taken over is stopped and reported failed (it may have switched hosts)", async () => {
    const f = makeFakeFlake("stolen");
    flakes.push(f);
    f.control({ mode: "success", durationMs: 10_000 });
    rig = await makeRig(redis.url, () => desired([{ name: "alpha", flake: f.dir }]));
    const r = rig;
    await r.startWorker({ lockTtlMs: 1_500 });
    await r.queue.enqueue({
      action: { kind: "redeploy", deployment: "alpha", target: "alpha" },
      actor: "t",
      reason: "t",
    });
    expect(await waitFor(() => f.calls().some((c) => c.event === "start"), 10_000)).toBe(true);
    // Someone else holds the directory now (an expired lease taken over, an operator's hand).
    const key = new FlakeLock(client, r.prefix, { ttlMs: 1_500 }).keyFor(f.dir);
    await client.set(key, "stranger-token job-x", "PX", 10_000);
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]).toMatchObject({
      outcome: "failed",
      message: "nixops4 apply stopped: the flake directory lock was lost",
    });
    await client.del(key);
  });
});

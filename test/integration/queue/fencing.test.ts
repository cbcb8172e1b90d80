/**
 * Fencing enforced in Redis (issue 18, item 5): the leader's planning writes and enqueues under
 * its fence (redis/fence.ts), and Redis refuses them once the token is stale — another process
 * took the lease (the counter moved on) or the lease expired. The lease here is set by hand, as
 * leader.ts's acquisition leaves it: `<prefix>:leader` = identity, `<prefix>:leader:fence` = token.
 * The end-to-end case (a leader SIGSTOPped mid-pass) is test/faults/leader-failover.test.ts.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EventLog } from "../../../src/controller/events.js";
import { StateStore } from "../../../src/controller/state-store.js";
import { type Fence, leaseKeys, underFence } from "../../../src/redis/fence.js";
import { waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig, RecordingTransport, type Rig } from "./harness.js";

let redis: TestRedis;
let conn: Redis;
let rig: Rig | undefined;
beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url);
});
afterAll(async () => {
  conn.disconnect();
  await redis.stop();
});
afterEach(async () => {
  RecordingTransport.calls = [];
  await rig?.close();
  rig = undefined;
});

const state = () => desired([{ name: "fedi", flake: "/srv/fedi", hosts: ["web"] }]);
const restart = {
  action: { kind: "restart" as const, deployment: "fedi", host: "web", units: ["web.service"] },
  actor: "controller",
  reason: "web.service failing",
};

/** The lease as leader.ts leaves it after `identity`'s acquisition number `token`. */
async function lease(prefix: string, identity: string, token: number): Promise<Fence> {
  const keys = leaseKeys(prefix);
  await conn.set(keys.leaseKey, identity, "PX", 60_000);
  await conn.set(keys.fenceKey, String(token));
  return { ...keys, identity, token };
}

/** Every key under the prefix with its value, to show a refused write changed nothing. */
async function snapshot(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of (await conn.keys(`${prefix}:*`)).sort()) {
    // BullMQ's Queue writes its metadata when it connects, at its own pace, not when it adds.
    if (key.endsWith(":meta")) continue;
    const dump = await conn.dumpBuffer(key);
    out[key] = dump?.toString("hex") ?? "";
  }
  return out;
}

describe("fencing enforced in Redis", () => {
  it("state writes and events under a stale token are refused with FENCED and write nothing", async () => {
    const prefix = "fence-state";
    const store = new StateStore(conn, prefix);
    const events = new EventLog(conn, prefix);
    const stale = await lease(prefix, "a", 1);
    await lease(prefix, "b", 2); // b took the lease: the counter moved on
    const before = await snapshot(prefix);
    const writes: [string, () => Promise<unknown>][] = [
      ["breaker", () => store.setBreaker({ open: true, since: 1, bad: 1, total: 1 })],
      ["quarantine", () => store.setQuarantine({ deployment: "fedi", since: 1, until: 2, reason: "x" })],
      [
        "attempts",
        () =>
          store.recordAutomatic({
            deployment: "fedi",
            key: "restart__fedi__web",
            jobId: "j",
            at: 1,
            backoff: { attempts: 1, nextAt: 2 },
            keepAttemptsMs: 1000,
            budgetWindows: { deployment: 1000, global: 1000 },
          }),
      ],
      ["finish", () => store.finish("fedi", "restart__fedi__web", "j", 5)],
      ["pending", () => store.markGenerationPending("fedi", ["web"], 0)],
      ["event", () => events.append({ time: 1, kind: "action", deployment: "fedi", reason: "r" })],
    ];
    for (const [what, write] of writes)
      await expect(underFence(stale, write), what).rejects.toMatchObject({ code: "FENCED" });
    expect(await snapshot(prefix)).toEqual(before);

    // The holder's current token writes, and the fenced script returns what the commands reply.
    const current: Fence = { ...stale, identity: "b", token: 2 };
    await underFence(current, () => store.setBreaker({ open: true, since: 1, bad: 1, total: 1 }));
    expect(await store.breaker()).toMatchObject({ open: true });
    const id = await underFence(current, () => events.append({ time: 1, kind: "action", reason: "r" }));
    expect(id).toMatch(/^\d+-\d+$/);
    expect(await store.removePause({ kind: "global" })).toBeUndefined();
  });

  it("a lease that expired refuses even its last token: nobody leads, nobody writes", async () => {
    const prefix = "fence-expired";
    const store = new StateStore(conn, prefix);
    const fence = await lease(prefix, "a", 7);
    await conn.del(fence.leaseKey);
    await expect(
      underFence(fence, () => store.setBreaker({ open: false, since: 1, bad: 0, total: 1 })),
    ).rejects.toMatchObject({ code: "FENCED" });
    expect(await store.breaker()).toBeUndefined();
  });

  it("an enqueue under a stale token adds no job and writes none of the queue's own keys", async () => {
    rig = await makeRig(redis.url, state);
    const stale = await lease(rig.prefix, "a", 1);
    await lease(rig.prefix, "b", 2);
    await rig.queue.queue.waitUntilReady();
    const before = await snapshot(rig.prefix);
    await expect(underFence(stale, () => rig!.queue.enqueue(restart))).rejects.toMatchObject({
      code: "FENCED",
    });
    expect(await snapshot(rig.prefix)).toEqual(before);
    expect(await rig.queue.queue.getJobCounts()).toMatchObject({ waiting: 0, active: 0, delayed: 0 });
  });

  it("a job the leader added runs once committed; the current token's enqueue commits it", async () => {
    rig = await makeRig(redis.url, state);
    const fence = await lease(rig.prefix, "a", 3);
    const res = await underFence(fence, () => rig!.queue.enqueue(restart));
    expect(res).toMatchObject({ state: "added" });
    const job = await rig.queue.getJob(res.jobId);
    expect(job?.data.fence).toEqual({ identity: "a", token: 3 });
    await rig.startWorker();
    expect(await waitFor(() => rig!.outcomes.length === 1, 10_000)).toBe(true);
    expect(rig.outcomes[0]).toMatchObject({ outcome: "success" });
  });

  it("a job added but never committed (its leader froze between the add and the commit) waits while the lease may still commit it, and is refused once it cannot", async () => {
    rig = await makeRig(redis.url, state);
    const fence = await lease(rig.prefix, "a", 4);
    // BullMQ's add as the frozen leader left it: the job, with its token, and no commit.
    const data = {
      ...restart,
      key: "restart__fedi__web",
      requestedAt: Date.now(),
      fence: { identity: "a", token: 4 },
    };
    await rig.queue.queue.add("restart", data, { jobId: "restart__fedi__web__1" });
    await rig.startWorker();
    // Pending: its leader still holds the lease with that token and could commit it.
    await new Promise((r) => setTimeout(r, 500));
    expect(RecordingTransport.calls).toEqual([]);
    expect(await rig.queue.queue.getJobState("restart__fedi__web__1")).toBe("active");
    // Another process takes the lease: the commit can never come.
    await lease(rig.prefix, "b", fence.token + 1);
    expect(
      await waitFor(
        async () => (await rig!.queue.queue.getJobState("restart__fedi__web__1")) === "failed",
        10_000,
      ),
    ).toBe(true);
    const job = await rig.queue.getJob("restart__fedi__web__1");
    expect(job?.failedReason).toMatch(/^FENCED/);
    expect(RecordingTransport.calls).toEqual([]);
    expect(rig.outcomes).toEqual([]);
    expect((await rig.metrics.fencedWrites.get()).values).toEqual([
      expect.objectContaining({ labels: { by: "worker" }, value: 1 }),
    ]);
  });
});

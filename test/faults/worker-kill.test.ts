import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesInDir } from "../helpers/fake-nixops4.js";
import { killAllDaemons, msg, scaled, secretLeaks, startDaemon } from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../helpers/redis.js";

/**
 * Faults 2 and 3: the process running an apply dies (SIGKILL) or is stopped (SIGTERM) mid-apply.
 * Real NixGuard processes, real redis-server, the simulator's fake nixops4 (which records every
 * run, its PID and whether another apply was running in the same flake directory).
 */
let redis: TestRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await killAllDaemons();
  client.disconnect();
  await redis.stop();
});

const lockKey = (prefix: string, flakeDir: string) =>
  `${prefix}:flake-lock:${createHash("sha256").update(flakeDir).digest("hex").slice(0, 32)}`;

async function startApply(fleet: FaultFleet, url: string): Promise<string> {
  const r = await api(url, "/api/v1/deployments/fediversity/redeploy", {
    token: fleet.tokens.admin,
    body: {},
  });
  expect(r.status, r.text).toBe(202);
  expect(await poll(() => fleet.control.applyRuns().then((runs) => runs.length === 1), scaled(10_000))).toBe(
    true,
  );
  return r.body.jobId as string;
}

const jobState = async (prefix: string, jobId: string) => {
  const raw = await client.hgetall(`${prefix}:actions:${jobId}`);
  return raw;
};

describe("fault 2: worker process SIGKILLed during an apply", () => {
  let fleet: FaultFleet;
  afterAll(async () => {
    expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
    await fleet.close();
  });

  it(
    "leaves no nixops4 after 5 s; a second process retries once, after the flake lock expired; no overlap",
    async () => {
      fleet = await startFaultFleet({ applyDelayMs: 120_000 });
      const prefix = "kill9";
      // The flake lock outlives BullMQ's stall detection (30 s lock, 30 s check) only if its TTL
      // is long: 40 s makes the retry arrive while the dead process's lock may still be held.
      const config = fleet.writeConfig({
        redisUrl: redis.url,
        prefix,
        overrides: { worker: { lockTtl: "40s" } },
      });
      const a = await startDaemon({ config, name: "A" });
      const jobId = await startApply(fleet, a.url);
      // B: a worker-only process on the same Redis, idle until A's job is declared stalled.
      const b = await startDaemon({ config, name: "B", roles: "worker" });
      await fleet.control.setNixops4({ delayMs: 1_000 }); // what the retry will see
      const [first] = await fleet.control.applyRuns();
      expect(processesInDir(fleet.flakeDir).length).toBeGreaterThan(0);

      a.signal("SIGKILL");
      const killedAt = (await a.exited).at;
      const pttl = await client.pttl(lockKey(prefix, fleet.flakeDir));
      expect(pttl).toBeGreaterThan(0); // the dead process's lock is still there…
      const lockExpiresAt = killedAt + pttl;

      // …but its nixops4 is not: the exec guard kills the process group when NixGuard dies.
      expect(await poll(() => processesInDir(fleet.flakeDir).length === 0, 5_000, 100)).toBe(true);
      const orphansGoneAfterMs = Date.now() - killedAt;
      expect(orphansGoneAfterMs).toBeLessThan(5_000);
      expect((await fleet.control.applyRuns())[0]?.status).toBe("killed");

      // B retries it once BullMQ sees the job stalled (lock 30 s + check every 30 s). ~60 s as a rule,
      // but a check marks the job and the next one moves it, so a check that fell just before the
      // lock lapsed makes it ~90 s: a CI run on a loaded machine missed a 90 s wait once.
      expect(
        await poll(() => fleet.control.applyRuns().then((r) => r.length >= 2), scaled(120_000), 500),
      ).toBe(true);
      const retryStartedAt = Date.now();
      await b.waitLog((l) => l.json?.msg === "action finished" && l.json?.jobId === jobId, scaled(20_000));
      await sleep(3_000); // a third run would show by now
      const runs = await fleet.control.applyRuns();
      expect(runs.map((r) => r.status)).toEqual(["killed", "succeeded"]);
      const [, second] = runs;
      expect(second?.startedAt).toBeGreaterThanOrEqual(lockExpiresAt - 50);
      expect(runs.every((r) => !r.overlapped)).toBe(true);
      expect(second?.startedAt).toBeGreaterThan(first?.startedAt ?? 0);
      const job = await jobState(prefix, jobId);
      expect(job.finishedOn).toBeDefined();
      expect(await client.zscore(`${prefix}:actions:completed`, jobId)).not.toBeNull();
      console.log(
        JSON.stringify({
          fault: "worker-sigkill",
          orphansGoneAfterMs,
          lockTtlLeftMs: pttl,
          retryAfterKillMs: (second?.startedAt ?? retryStartedAt) - killedAt,
          applies: runs.length,
        }),
      );
      b.signal("SIGTERM");
      expect((await b.exited).code).toBe(0);
    },
    scaled(180_000),
  );
});

describe("fault 3: SIGTERM during an apply", () => {
  let fleet: FaultFleet;
  afterAll(async () => {
    expect(secretLeaks(Object.values(fleet.tokens))).toEqual([]);
    await fleet.close();
  });

  it(
    "stops within worker.shutdownGrace with exit 0, and the next process retries the job",
    async () => {
      fleet = await startFaultFleet({ applyDelayMs: 120_000 });
      const prefix = "term";
      const config = fleet.writeConfig({
        redisUrl: redis.url,
        prefix,
        overrides: { worker: { shutdownGrace: "3s" } },
      });
      const a = await startDaemon({ config, name: "A" });
      const jobId = await startApply(fleet, a.url);
      await fleet.control.setNixops4({ delayMs: 1_000 });

      const termAt = Date.now();
      a.signal("SIGTERM");
      const exit = await a.exited;
      const stopMs = exit.at - termAt;
      expect(exit.code).toBe(0);
      expect(exit.signal).toBeNull();
      // shutdownGrace for the apply, then killGrace (1 s) for nixops4 to go, then closing.
      expect(stopMs).toBeGreaterThanOrEqual(3_000);
      expect(stopMs).toBeLessThan(3_000 + 1_000 + 2_000);
      await a.waitLog(msg("NixGuard stopped"), 1_000);
      expect(processesInDir(fleet.flakeDir)).toEqual([]);

      const b = await startDaemon({ config, name: "B" });
      await b.waitLog((l) => l.json?.msg === "action finished" && l.json?.jobId === jobId, scaled(60_000));
      await sleep(2_000);
      const runs = await fleet.control.applyRuns();
      expect(runs.map((r) => r.status)).toEqual(["killed", "succeeded"]);
      expect(runs.every((r) => !r.overlapped)).toBe(true);
      console.log(
        JSON.stringify({ fault: "sigterm-during-apply", stopMs, exitCode: exit.code, applies: runs.length }),
      );
      b.signal("SIGTERM");
      expect((await b.exited).code).toBe(0);
    },
    scaled(120_000),
  );
});

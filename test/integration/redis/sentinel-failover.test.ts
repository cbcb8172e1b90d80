/**
 * Redis behind Sentinel (issue 22, item 2): three real redis-server (a master, two replicas) and
 * three Sentinels on loopback; a whole NixGuard (all roles) configured with redis.sentinels and a
 * password file. The master is SIGKILLed while a nixops4 apply runs. NixGuard must follow the
 * promoted replica: the apply's job completes exactly once, its outcome reaches the leader,
 * planning goes on (the next request is queued and runs), and /readyz says "not ready" while
 * there is no master and "ready" once there is one again.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { createLogger, silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { FAKE_NIXOPS4, type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startSentinelSet, type TestSentinelSet } from "../../helpers/redis-sentinel.js";
import { useExporterRig } from "../manager/exporter-rig.js";

const rig = useExporterRig("sentinel");
const PASSWORD = "sentinel-test-pw";
let set: TestSentinelSet;
let flake: FakeFlake;
beforeAll(async () => {
  set = await startSentinelSet({ password: PASSWORD });
  flake = makeFakeFlake("sentinel");
}, 60_000);
afterAll(async () => {
  flake?.cleanup();
  await set?.stop();
});

interface Sample {
  /** When the request was sent. */
  t: number;
  status: number;
}

/** Polls /readyz every `everyMs` until stopped; each answer with the time its request left. */
function pollReady(url: string, everyMs: number) {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.status)
        .catch(() => 0);
      samples.push({ t, status });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe("Redis Sentinel failover", () => {
  it("the master dies mid-apply: NixGuard follows the new master, the job runs once, planning resumes, /readyz tells the truth", async () => {
    const { downAfterMs } = set.timings;
    const applyMs = set.failoverBudgetMs();
    const passwordFile = join(rig.dir, "redis-password");
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    flake.control({ mode: "success", durationMs: applyMs });
    const manager = new Manager({
      loaded: parseConfig({
        redis: {
          sentinels: { addresses: set.addresses, masterName: set.masterName, passwordFile },
          prefix: "sentinel",
        },
        state: { dir: join(rig.dir, "state"), runtimeDir: join(rig.dir, "run") },
        probes: { interval: "1s", failureThreshold: 1 },
        remediation: { mode: "observe" },
        nixops4: { command: FAKE_NIXOPS4 },
        deployments: {
          web: {
            flake: flake.dir,
            target: "web",
            hosts: { h1: rig.host() },
          },
        },
      }),
      logger: process.env.SENTINEL_DEBUG ? createLogger({ level: "debug" }) : silentLogger(),
      tokens: [],
      listen: "127.0.0.1:0",
      processMetrics: false,
    });
    let poll: ReturnType<typeof pollReady> | undefined;
    try {
      await manager.start();
      const url = manager.url ?? "";
      expect(await waitFor(() => manager.leader?.isLeader() === true, 10_000)).toBe(true);
      expect(await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000)).toBe(true);

      const d = await manager.controller.requestAction(
        { kind: "redeploy", deployment: "web", target: "web" },
        { actor: "test", force: true },
      );
      expect(d.decision).toBe("enqueued");
      // The apply runs (its process has started) when the master goes.
      expect(await waitFor(() => flake.calls().some((c) => c.event === "start"), 15_000)).toBe(true);

      const oldPort = await set.masterPort();
      const { promoted } = await set.watchPromotion(oldPort, set.failoverBudgetMs());
      poll = pollReady(url, 100);
      await set.killMaster();
      const killedAt = Date.now();
      const { port: newPort, at: promotedAt } = await promoted;
      expect(newPort).not.toBe(oldPort);

      // Ready again on the new master: the client reconnects through the Sentinels.
      expect(
        await waitFor(() => poll!.samples.some((s) => s.t > promotedAt && s.status === 200), 15_000),
      ).toBe(true);
      // The apply finishes on its own time; its job completes on the new master, once.
      expect(
        await waitFor(
          async () => (await manager.events.list({ limit: 50 })).some((e) => e.kind === "outcome"),
          applyMs + 20_000,
        ),
      ).toBe(true);
      const probesAfterFailover = rig.probes;

      // Planning resumes: a new request is queued on the new master and runs.
      flake.control({ mode: "success", durationMs: 0 });
      const again = await manager.controller.requestAction(
        { kind: "redeploy", deployment: "web", target: "web" },
        { actor: "test", force: true },
      );
      expect(again.decision).toBe("enqueued");
      const outcomes = async () =>
        (await manager.events.list({ limit: 50 })).filter((e) => e.kind === "outcome");
      expect(await waitFor(async () => (await outcomes()).length === 2, 20_000)).toBe(true);
      // The leader still probes (it kept or took the lease back on the new master).
      expect(await waitFor(() => rig.probes > probesAfterFailover, 10_000)).toBe(true);
      expect(manager.leader?.isLeader()).toBe(true);
      await poll.stop();

      // Exactly two applies ran — the one the failover interrupted, never restarted, and the new one.
      const calls = flake.calls();
      expect(
        calls.filter((c) => c.event === "start"),
        JSON.stringify(calls),
      ).toHaveLength(2);
      const ends = calls.filter((c) => c.event === "end");
      expect(
        ends.map((c) => c.exit),
        JSON.stringify(calls),
      ).toEqual([0, 0]);
      const counts = await manager.queue.queue.getJobCounts("completed", "failed", "active", "waiting");
      expect(counts).toEqual({ completed: 2, failed: 0, active: 0, waiting: 0 });
      expect((await outcomes()).map((e) => e.outcome)).toEqual(["success", "success"]);

      // /readyz told the truth: not ready from the kill (once the client saw its socket close) to
      // the promotion; ready at the end. Samples must exist in that window, or this proves nothing.
      const during = poll.samples.filter((s) => s.t >= killedAt + 250 && s.t < promotedAt);
      const seen = JSON.stringify({
        killedAt,
        promotedAt,
        samples: poll.samples.map((s) => [s.t - killedAt, s.status]),
      });
      expect(promotedAt - killedAt, seen).toBeGreaterThanOrEqual(downAfterMs - 100);
      expect(during.length, seen).toBeGreaterThan(0);
      expect(
        during.every((s) => s.status === 503),
        seen,
      ).toBe(true);
      expect(poll.samples.at(-1)?.status, seen).toBe(200);
    } finally {
      await poll?.stop();
      await manager.stop();
    }
  }, 180_000);
});

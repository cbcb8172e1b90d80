/**
 * Sentinel failover: how long after Redis Sentinel promotes a new master `nixguard serve` answers
 * /readyz 200 again. Target (issue 22): ≤ 5 s.
 *
 * Three redis-server (master, two replicas) and three Sentinels on loopback (test/helpers/
 * redis-sentinel.ts; down-after 1 s and failover-timeout 2 s unless given); NixGuard, the built package in a
 * process of its own, configured with redis.sentinels. Each round SIGKILLs the current master,
 * takes the promotion's moment from the first Sentinel's +switch-master, and polls /readyz every
 * 20 ms until a 200 answer whose request left after the promotion; then restarts the killed
 * server (the Sentinels make it a replica) and waits until the set is whole again.
 *
 * Run: npx tsx bench/sentinel-failover.ts [--rounds 5] [--down-after 1000] [--failover-timeout 2000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSentinelSet } from "../test/helpers/redis-sentinel.js";
import { percentile, round } from "./_lib/metrics.js";
import { startNixGuard } from "./_lib/nixguard.js";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({ rounds: "5", "down-after": "1000", "failover-timeout": "2000" });
const ROUNDS = Number(f.rounds);
const TARGET_MS = 5_000;
const POLL_MS = 20;

const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-sentinel-"));
const set = await startSentinelSet({
  timings: { downAfterMs: Number(f["down-after"]), failoverTimeoutMs: Number(f["failover-timeout"]) },
});
const nixguard = await startNixGuard({
  dir,
  config: {
    redis: { sentinels: { addresses: set.addresses, masterName: set.masterName }, prefix: "bench" },
    remediation: { mode: "observe" },
    deployments: {
      web: {
        flake: dir,
        target: "web",
        // Never reached (nothing listens there): readiness does not depend on host health.
        hosts: {
          h1: { address: "127.0.0.1", transport: "exporter", exporterUrl: "http://127.0.0.1:9/metrics" },
        },
      },
    },
  },
});

/** Status of one /readyz request; 0 when it got no answer. */
const ready = () =>
  fetch(`${nixguard.url}/readyz`, { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.status)
    .catch(() => 0);

const readyAfterPromotion: number[] = [];
const outage: number[] = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    await set.waitHealthy(60_000);
    while ((await ready()) !== 200) await new Promise((r) => setTimeout(r, POLL_MS));
    const oldPort = await set.masterPort();
    const { promoted } = await set.watchPromotion(oldPort, set.failoverBudgetMs());
    await set.killMaster();
    const killedAt = Date.now();
    const { at: promotedAt } = await promoted;
    let readyAt = 0;
    const deadline = promotedAt + 60_000;
    while (readyAt === 0 && Date.now() < deadline) {
      const sent = Date.now();
      if (sent > promotedAt && (await ready()) === 200) readyAt = Date.now();
      else await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (readyAt === 0) throw new Error(`round ${i + 1}: not ready 60 s after the promotion`);
    readyAfterPromotion.push(readyAt - promotedAt);
    outage.push(readyAt - killedAt);
    log(
      `round ${i + 1}: promoted ${promotedAt - killedAt} ms after the kill, ready ${readyAt - promotedAt} ms after the promotion`,
    );
    await set.restartKilled();
  }
} finally {
  await nixguard.stop();
  await set.stop();
  rmSync(dir, { recursive: true, force: true });
}

const sorted = [...readyAfterPromotion].sort((a, b) => a - b);
const worst = sorted.at(-1) ?? 0;
const s = (ms: number) => `${round(ms / 1000)} s`;
emit(
  [
    "figure",
    "rounds",
    "ready after promotion: median / max",
    "kill → ready: median / max",
    "target",
    "verdict",
  ],
  [
    "Sentinel failover",
    ROUNDS,
    `${s(percentile(sorted, 50))} / ${s(worst)}`,
    `${s(
      percentile(
        [...outage].sort((a, b) => a - b),
        50,
      ),
    )} / ${s(Math.max(...outage))}`,
    `≤ ${s(TARGET_MS)}`,
    worst <= TARGET_MS ? "met" : "MISSED",
  ],
  {
    bench: "sentinel-failover",
    entry: nixguard.entry,
    rounds: ROUNDS,
    timings: set.timings,
    readyAfterPromotionMs: readyAfterPromotion,
    killToReadyMs: outage,
    targetMs: TARGET_MS,
  },
);

/**
 * Detection: how long from a fault on a host to its fix being queued (the "action" event), and
 * to the host judged healthy again (the "recover" event), over ≥ 200 faults, with
 * probes.interval 1 s and failureThreshold 2. Target (controller issue): p99 of fault → enqueued
 * ≤ failureThreshold × interval + 0.5 s.
 *
 * `nixguard serve` runs in a process of its own against the simulated fleet (production ssh
 * transport with the fake ssh, restarts through it). Each host is its own deployment, so the
 * per-deployment settle period never makes one host's fault wait for another's. Faults: a
 * running unit fails (unit-fail), at a random phase of the probe interval, after the host has
 * been healthy past the settle period and backoff.
 *
 * Run: npx tsx bench/detection.ts [--faults 200] [--hosts 16]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NixGuardEvent } from "../src/controller/types.js";
import { writeSimBin } from "../src/sim/bin.js";
import { simConfig, writeSimFlakes } from "../src/sim/config.js";
import { SimControlClient } from "../src/sim/control-client.js";
import { simLayout } from "../src/sim/layout.js";
import { startSimulation } from "../src/sim/server.js";
import { percentile, round } from "./_lib/metrics.js";
import { startNixGuard } from "./_lib/nixguard.js";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({ faults: "200", hosts: "16" });
const FAULTS = Number(f.faults);
const HOSTS = Number(f.hosts);
const INTERVAL_MS = 1000;
const THRESHOLD = 2;
const TARGET_MS = THRESHOLD * INTERVAL_MS + 500;
const UNITS = [
  "mastodon-web.service",
  "mastodon-streaming-1.service",
  "mastodon-sidekiq-all.service",
  "redis-mastodon.service",
];

const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-detection-"));
const layout = simLayout(HOSTS, { hostsPerDeployment: 1 });
const sim = await startSimulation(layout);
const control = new SimControlClient(sim.url);
const bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
writeSimFlakes(layout, join(dir, "flake"));
const config = simConfig({
  hosts: HOSTS,
  layout: { hostsPerDeployment: 1 },
  transport: "ssh",
  simUrl: sim.url,
  sshCommand: bin.ssh,
  nixops4Command: bin.nixops4,
  flakeDir: join(dir, "flake"),
  overrides: {
    log: { level: "warn" },
    probes: { interval: "1s", timeout: "3s", failureThreshold: THRESHOLD, successThreshold: 1 },
    remediation: {
      // Every fault is the first of its kind: no ladder, budget or breaker in the way.
      restartAttempts: 100,
      restartWindow: "1s",
      settle: "1s",
      backoff: { initial: "1s", factor: 1, max: "1s", resetAfter: "1s" },
      budget: { deployment: { max: 100_000, window: "1h" }, global: { max: 100_000, window: "1h" } },
      breaker: { unhealthyFraction: 1, minHosts: 1000 },
    },
  },
});
const ng = await startNixGuard({ config, dir });

/** Every event NixGuard appends, polled from the API (times are NixGuard's own clock, this machine's). */
const seen = new Set<string>();
const waiters = new Set<{ match: (e: NixGuardEvent) => boolean; resolve: (e: NixGuardEvent) => void }>();
let polling = true;
let since = Date.now() - 1000;
const poller = (async () => {
  while (polling) {
    const list = JSON.parse(
      await ng.get(`/api/v1/events?since=${new Date(since - 2000).toISOString()}&limit=1000`),
    ) as NixGuardEvent[];
    for (const e of list) {
      if (!e.id || seen.has(e.id)) continue;
      seen.add(e.id);
      since = Math.max(since, e.time);
      for (const w of waiters) {
        if (!w.match(e)) continue;
        waiters.delete(w);
        w.resolve(e);
      }
    }
    await sleep(100);
  }
})();
const next = (match: (e: NixGuardEvent) => boolean, ms = 30_000) =>
  new Promise<NixGuardEvent | undefined>((resolve) => {
    const w = {
      match,
      resolve: (e: NixGuardEvent | undefined) => {
        clearTimeout(t);
        resolve(e);
      },
    };
    const t = setTimeout(() => {
      waiters.delete(w);
      resolve(undefined);
    }, ms);
    waiters.add(w);
  });

interface Sample {
  host: string;
  detectMs?: number;
  enqueueMs?: number;
  healthyMs?: number;
}
const samples: Sample[] = [];
let failed = false;
try {
  const names = layout.deployments.flatMap((d) => d.hosts.map((h) => h.name));
  for (let ok = false; !ok; await sleep(250)) {
    const status = JSON.parse(await ng.get("/api/v1/status")) as { hosts?: { healthy?: number } };
    ok = status.hosts?.healthy === HOSTS;
  }
  log(`${HOSTS} hosts healthy; injecting ${FAULTS} faults`);
  let remaining = FAULTS;
  await Promise.all(
    names.map(async (host) => {
      while (remaining > 0) {
        remaining--;
        // Past settle and backoff, and at a random phase of the probe interval.
        await sleep(1200 + Math.random() * 1000);
        const unit = UNITS[Math.floor(Math.random() * UNITS.length)] as string;
        const t0 = Date.now();
        const mine = (kind: string) => (e: NixGuardEvent) =>
          e.host === host && e.kind === kind && e.time >= t0;
        const detect = next(mine("detect"));
        const action = next(mine("action"));
        const recover = next(mine("recover"));
        await control.inject({ kind: "unit-fail", host, unit });
        const [d, a, r] = await Promise.all([detect, action, recover]);
        const s: Sample = { host };
        if (d) s.detectMs = d.time - t0;
        if (a) s.enqueueMs = a.time - t0;
        if (r) s.healthyMs = r.time - t0;
        samples.push(s);
        if (!r) await control.healAll();
        if (samples.length % 50 === 0) log(`  ${samples.length} faults`);
      }
    }),
  );
  const stats = (k: "detectMs" | "enqueueMs" | "healthyMs") => {
    const v = samples.map((s) => s[k]).filter((x): x is number => x !== undefined);
    v.sort((a, b) => a - b);
    return {
      n: v.length,
      p50: percentile(v, 50),
      p99: percentile(v, 99),
      max: v[v.length - 1] ?? Number.NaN,
    };
  };
  const detect = stats("detectMs");
  const enqueue = stats("enqueueMs");
  const healthy = stats("healthyMs");
  const missed = samples.length - healthy.n;
  const pass = enqueue.p99 <= TARGET_MS && missed === 0 && enqueue.n === samples.length;
  failed = !pass;
  const s = (ms: number) => `${round(ms / 1000)} s`;
  emit(
    [
      "bench",
      "faults",
      "interval / failureThreshold",
      "fault → detected p50 / p99",
      "fault → job enqueued p50 / p99 (max)",
      "fault → healthy p50 / p99 (max)",
      "not healed",
      "target (enqueued p99)",
    ],
    [
      "detection",
      samples.length,
      `1 s / ${THRESHOLD}`,
      `${s(detect.p50)} / ${s(detect.p99)}`,
      `${s(enqueue.p50)} / ${s(enqueue.p99)} (${s(enqueue.max)})`,
      `${s(healthy.p50)} / ${s(healthy.p99)} (${s(healthy.max)})`,
      missed,
      `≤ ${s(TARGET_MS)} ${pass ? "✓" : "✗"}`,
    ],
    {
      bench: "detection",
      nixguard: ng.entry,
      faults: samples.length,
      hosts: HOSTS,
      intervalMs: INTERVAL_MS,
      failureThreshold: THRESHOLD,
      detectP50Ms: detect.p50,
      detectP99Ms: detect.p99,
      enqueueP50Ms: enqueue.p50,
      enqueueP99Ms: enqueue.p99,
      enqueueMaxMs: enqueue.max,
      healthyP50Ms: healthy.p50,
      healthyP99Ms: healthy.p99,
      healthyMaxMs: healthy.max,
      notHealed: missed,
      targetMs: TARGET_MS,
      pass,
    },
  );
} finally {
  polling = false;
  await poller.catch(() => undefined);
  await ng.stop();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Shared probing (issue 22): N simulated hosts × 8 checks (mastodon: 6 units, 2 HTTP checks),
 * exporter transport, probed every interval by `--processes` NixGuard processes (`nixguard serve`,
 * each in a process of its own) sharing one redis-server. Measured over `--cycles` intervals after
 * a warm-up: each process's CPU and RSS, and the cycle lag from the time each host's scrape
 * reached the exporter endpoint (the scrape recorder, in this process). Then one process that
 * does not lead is SIGKILLed and, over the next three intervals, the longest any host went
 * unscraped is measured there too.
 *
 * Targets (issue 22): cycle lag ≤ 1 s, no host unprobed for 2 intervals when one process is
 * SIGKILLed, each process ≤ 30 % of a core and ≤ 400 MB.
 *
 * Run: npx tsx bench/shared-probing.ts [--hosts 30000] [--processes 3] [--cycles 2] [--interval 30s]
 * Same-run reference: bench/scale.ts at hosts / processes hosts, one process (what each member
 * probes, without the membership and the stream).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../src/config/duration.js";
import { writeSimBin } from "../src/sim/bin.js";
import { simConfig, writeSimFlakes } from "../src/sim/config.js";
import { simLayout } from "../src/sim/layout.js";
import { longestGap, startSimulation } from "../src/sim/server.js";
import { startRedis } from "../test/helpers/redis.js";
import { round, sampleSum } from "./_lib/metrics.js";
import { type RunningNixGuard, startNixGuard } from "./_lib/nixguard.js";
import { CpuMeter, RssSampler } from "./_lib/proc.js";
import { emit, flags, log } from "./_lib/report.js";
import { cycleLateness, pointExportersAt, startScrapeRecorder } from "./_lib/scrape-recorder.js";

const f = flags({ hosts: "30000", processes: "3", cycles: "2", interval: "30s", concurrency: "64" });
const hosts = Number(f.hosts);
const processes = Number(f.processes);
const cycles = Number(f.cycles);
const intervalMs = parseDuration(f.interval) ?? Number.NaN;
if (!(hosts >= 1 && processes >= 2 && cycles >= 1 && intervalMs > 0)) {
  console.error("bad flags");
  process.exit(64);
}

const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-shared-"));
const redis = await startRedis();
const layout = simLayout(hosts);
log(`simulator: ${hosts} hosts; redis-server on ${redis.url}`);
const sim = await startSimulation(layout);
const recorder = await startScrapeRecorder(sim.fleet);
const bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
writeSimFlakes(layout, join(dir, "flake"));
const config = simConfig({
  hosts,
  transport: "exporter",
  simUrl: sim.url,
  nixops4Command: bin.nixops4,
  flakeDir: join(dir, "flake"),
  routing: sim.routing,
  overrides: {
    // Jitter 0: every host aims at exactly one interval, so any gap beyond it is lag.
    probes: { interval: f.interval, timeout: "10s", jitter: 0, concurrency: Number(f.concurrency) },
    redis: { url: redis.url, prefix: "bench" },
    log: { level: "warn" },
  },
});
pointExportersAt(config, sim.url, recorder.url);

const ngs: RunningNixGuard[] = [];
const rss: RssSampler[] = [];
let failed = false;
let keep = false;
try {
  for (let i = 0; i < processes; i++) {
    const own = join(dir, `ng${i}`);
    mkdirSync(own, { recursive: true });
    const ng = await startNixGuard({ config, dir: own, readyTimeoutMs: 900_000 });
    ngs.push(ng);
    rss.push(new RssSampler(ng.pid));
    log(`nixguard serve ${i}: pid ${ng.pid}`);
  }
  const status = async (ng: RunningNixGuard) => JSON.parse(await ng.get("/api/v1/status"));
  for (;;) {
    const s = await status(ngs[0] as RunningNixGuard);
    const alive = s.probing?.members.filter((m: { alive: boolean }) => m.alive) ?? [];
    if (alive.length === processes) {
      log(
        `members: ${alive.map((m: { id: string; hosts: number }) => `${m.id.slice(0, 8)} ${m.hosts}`).join(", ")}`,
      );
      break;
    }
    await sleep(500);
  }
  // Warm-up: the hand-over at the last join (an interval and a heartbeat) and a full cycle after it.
  const startedAt = Date.now();
  await sleep(2 * intervalMs + intervalMs / 6 + 2000);
  log("measuring");
  const cpu = ngs.map((ng) => new CpuMeter(ng.pid));
  const simCpu = new CpuMeter(process.pid);
  const before = await Promise.all(ngs.map((ng) => ng.get("/metrics")));
  const from = Date.now();
  await sleep(cycles * intervalMs);
  const used = cpu.map((c) => c.read());
  const simPercent = simCpu.read().fractionOfCore * 100;
  const to = Date.now();
  const after = await Promise.all(ngs.map((ng) => ng.get("/metrics")));
  const { late, hostsSeen, maxLate, p99Late, over1s } = cycleLateness(recorder.times, from, to, intervalMs);
  const cpuPercent = used.map((u) => u.fractionOfCore * 100);
  const rssMB = rss.map((r) => r.peak / 2 ** 20);
  const statuses = await Promise.all(ngs.map(status));
  const leaderIndex = statuses.findIndex((s) => s.leader.self);
  const role = (i: number) => (i === leaderIndex ? "leader" : "member");
  const delta = (i: number, name: string, match: Record<string, string> = {}) =>
    sampleSum(after[i] as string, name, match) - sampleSum(before[i] as string, name, match);
  const hostProbes = ngs.map((_, i) => delta(i, "nixguard_probes_total", { kind: "host" }));
  const accepted = delta(leaderIndex, "nixguard_probe_observations_received_total", { result: "accepted" });
  const published = ngs.map((_, i) => delta(i, "nixguard_probe_observations_published_total"));
  const healthy = sampleSum(after[leaderIndex] as string, "nixguard_hosts", { state: "healthy" });

  // SIGKILL a member that does not lead: its hosts go to the others within two intervals.
  const victim = ngs.findIndex((_, i) => i !== leaderIndex);
  const killedAt = Date.now();
  process.kill((ngs[victim] as RunningNixGuard).pid, "SIGKILL");
  log(`SIGKILL member ${victim} (pid ${ngs[victim]?.pid})`);
  await sleep(3 * intervalMs);
  const gapTo = Date.now();
  let worstGap = 0;
  let over2 = 0;
  for (const times of recorder.times.values()) {
    const gap = longestGap(times, killedAt, gapTo);
    worstGap = Math.max(worstGap, gap);
    if (gap >= 2 * intervalMs) over2++;
  }
  const lagOk = over1s === 0 && hostsSeen === hosts;
  const cpuOk = cpuPercent.every((c) => c <= 30);
  const rssOk = rssMB.every((r) => r <= 400);
  const gapOk = worstGap < 2 * intervalMs && recorder.times.size === hosts;
  const pass = lagOk && cpuOk && rssOk && gapOk;
  failed = !pass;
  emit(
    [
      "bench",
      "hosts × checks",
      "processes",
      "interval",
      "cycle lag max / p99",
      "cycles late > 1 s",
      "CPU per process (one core)",
      "RSS peak per process",
      "longest unprobed after SIGKILL",
      "simulator CPU",
      "targets",
    ],
    [
      "shared-probing (exporter)",
      `${hosts} × 8`,
      processes,
      f.interval,
      `${round(maxLate / 1000)} s / ${round(p99Late / 1000)} s`,
      over1s,
      cpuPercent.map((c, i) => `${role(i)} ${round(c, 1)} %`).join(", "),
      rssMB.map((r, i) => `${role(i)} ${Math.round(r)} MB`).join(", "),
      `${round(worstGap / 1000, 1)} s (${round(worstGap / intervalMs, 2)} intervals)`,
      `${round(simPercent, 1)} %`,
      [
        `lag ≤ 1 s ${lagOk ? "✓" : "✗"}`,
        `CPU ≤ 30 % ${cpuOk ? "✓" : "✗"}`,
        `RSS ≤ 400 MB ${rssOk ? "✓" : "✗"}`,
        `unprobed < 2 intervals ${gapOk ? "✓" : "✗"}`,
      ].join(", "),
    ],
    {
      bench: "shared-probing",
      nixguard: ngs[0]?.entry,
      hosts,
      processes,
      checksPerHost: 8,
      intervalMs,
      cycles,
      hostCycles: late.length,
      hostsSeen,
      cycleLagMaxMs: round(maxLate, 0),
      cycleLagP99Ms: round(p99Late, 0),
      cyclesLateOver1s: over1s,
      leader: leaderIndex,
      cpuPercentOfOneCore: cpuPercent.map((c) => round(c, 1)),
      cpuMsPerHostProbe: used.map((u, i) =>
        round((u.cpuSeconds * 1000) / Math.max(1, hostProbes[i] ?? 0), 3),
      ),
      hostProbes,
      observationsPublished: published,
      observationsAcceptedByLeader: accepted,
      rssPeakMB: rssMB.map((r) => Math.round(r)),
      healthyHostsAtLeader: healthy,
      killed: victim,
      worstGapAfterKillMs: worstGap,
      hostsUnprobedTwoIntervals: over2,
      simulatorCpuPercent: round(simPercent, 1),
      warmupMs: from - startedAt,
      pass,
    },
  );
} catch (e) {
  failed = true;
  keep = true;
  log(`failed: ${(e as Error).message}; logs kept in ${dir}/ng*/nixguard.log`);
} finally {
  for (const r of rss) r.stop();
  await Promise.all(ngs.map((ng) => ng.stop()));
  await recorder.close();
  await sim.close();
  await redis.stop();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/**
 * Scale: N simulated hosts × 8 checks (mastodon: 6 units, 2 HTTP checks) probed every interval
 * by `nixguard serve` in a process of its own, for at least 3 cycles after a warm-up cycle.
 *
 *   --transport exporter (default): unit states from each host's node_exporter, all served on one
 *     loopback port; cycle lag from the time each host's scrape reached the simulator.
 *     Targets: no cycle late by more than 1 s, CPU ≤ 30 % of one core, RSS ≤ 400 MB.
 *   --transport ssh: the production ssh transport with the fake ssh (≤ 500 hosts, one loopback
 *     address each); NixGuard's process CPU only (the fake remote's bash relays are its children
 *     and not counted) → hosts per core at the interval.
 *
 * Run: npx tsx bench/scale.ts [--hosts 10000] [--cycles 3] [--interval 30s] [--transport exporter]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../src/config/duration.js";
import { writeSimBin } from "../src/sim/bin.js";
import { simConfig, writeSimFlakes } from "../src/sim/config.js";
import { simLayout } from "../src/sim/layout.js";
import { startSimulation } from "../src/sim/server.js";
import { round, sampleSum } from "./_lib/metrics.js";
import { startNixGuard } from "./_lib/nixguard.js";
import { CpuMeter, RssSampler } from "./_lib/proc.js";
import { emit, flags, log } from "./_lib/report.js";
import { cycleLateness, pointExportersAt, startScrapeRecorder } from "./_lib/scrape-recorder.js";

const f = flags({ hosts: "10000", cycles: "3", interval: "30s", transport: "exporter", concurrency: "64" });
const hosts = Number(f.hosts);
const cycles = Number(f.cycles);
const intervalMs = parseDuration(f.interval) ?? Number.NaN;
const transport = f.transport as "exporter" | "ssh";
if (!(hosts >= 1 && cycles >= 1 && intervalMs > 0 && (transport === "exporter" || transport === "ssh"))) {
  console.error("bad flags");
  process.exit(64);
}
const SCRAPE_EVERY_MS = 15_000; // as a Prometheus would

const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-scale-"));
const layout = simLayout(hosts);
log(`simulator: ${hosts} hosts`);
const sim = await startSimulation(layout, transport === "ssh" ? { routing: "address" } : {});
const recorder = transport === "exporter" ? await startScrapeRecorder(sim.fleet) : undefined;
const bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
writeSimFlakes(layout, join(dir, "flake"));
const config = simConfig({
  hosts,
  transport,
  simUrl: sim.url,
  sshCommand: bin.ssh,
  nixops4Command: bin.nixops4,
  flakeDir: join(dir, "flake"),
  routing: sim.routing,
  overrides: {
    // Jitter 0: every host aims at exactly one interval, so any gap beyond it is lag.
    probes: { interval: f.interval, timeout: "10s", jitter: 0, concurrency: Number(f.concurrency) },
    log: { level: "warn" },
  },
});
if (recorder) pointExportersAt(config, sim.url, recorder.url);

log(`nixguard serve: starting (${transport}, interval ${f.interval})`);
const ng = await startNixGuard({ config, dir });
log(`nixguard serve: pid ${ng.pid}`);
const rss = new RssSampler(ng.pid);
let failed = false;
let keep = false;
try {
  // Warm-up: the first cycle starts every host's probe, spread over one interval.
  const startedAt = Date.now();
  await sleep(intervalMs + 2000);
  log("measuring");
  const before = await ng.get("/metrics");
  const cpu = new CpuMeter(ng.pid);
  const simCpu = new CpuMeter(process.pid); // the simulator and the scrape recorder
  const probeSeconds0 = sampleSum(before, "nixguard_probe_duration_seconds_sum", { kind: "host" });
  const from = Date.now();
  const loopP99: number[] = [];
  const loopMax: number[] = [];
  let heapMB = 0;
  let externalMB = 0;
  const windowMs = cycles * intervalMs;
  while (Date.now() - from < windowMs) {
    await sleep(Math.min(SCRAPE_EVERY_MS, windowMs - (Date.now() - from)));
    const text = await ng.get("/metrics");
    loopP99.push(sampleSum(text, "nixguard_nodejs_eventloop_lag_p99_seconds"));
    loopMax.push(sampleSum(text, "nixguard_nodejs_eventloop_lag_max_seconds"));
    heapMB = sampleSum(text, "nixguard_nodejs_heap_size_used_bytes") / 2 ** 20;
    externalMB = sampleSum(text, "nixguard_nodejs_external_memory_bytes") / 2 ** 20;
    log(
      `  ${Math.round((Date.now() - from) / 1000)} s: RSS ${Math.round(rss.last / 2 ** 20)} MB, heap used ${Math.round(heapMB)} MB, external ${Math.round(externalMB)} MB`,
    );
  }
  const used = cpu.read();
  const simPercent = simCpu.read().fractionOfCore * 100;
  const to = Date.now();
  const after = await ng.get("/metrics");
  const delta = (name: string, match: Record<string, string>) =>
    sampleSum(after, name, match) - sampleSum(before, name, match);
  const hostProbes = delta("nixguard_probes_total", { kind: "host" });
  const hostOk = delta("nixguard_probes_total", { kind: "host", result: "ok" });
  const skipped = delta("nixguard_probes_total", { kind: "host", result: "skipped" });
  const httpProbes = delta("nixguard_probes_total", { kind: "http" });
  const probesPerSecond = hostProbes / used.wallSeconds;
  const checksPerSecond = (hostOk * 6 + httpProbes) / used.wallSeconds;
  const cpuPercent = used.fractionOfCore * 100;
  const rssMB = rss.peak / 2 ** 20;
  const p99Loop = Math.max(...loopP99) * 1000;
  const maxLoop = Math.max(...loopMax) * 1000;
  const healthy = sampleSum(after, "nixguard_hosts", { state: "healthy" });
  const cpuMsPerHostProbe = (used.cpuSeconds * 1000) / hostProbes;
  const meanProbeMs =
    ((sampleSum(after, "nixguard_probe_duration_seconds_sum", { kind: "host" }) - probeSeconds0) * 1000) /
    hostProbes;

  if (transport === "exporter" && recorder) {
    const { late, hostsSeen, maxLate, p99Late, over1s } = cycleLateness(recorder.times, from, to, intervalMs);
    const pass = over1s === 0 && hostsSeen === hosts && cpuPercent <= 30 && rssMB <= 400;
    failed = !pass;
    emit(
      [
        "bench",
        "hosts × checks",
        "interval",
        "cycles measured",
        "cycle lag max / p99",
        "cycles late > 1 s",
        "host probes/s (checks/s)",
        "NixGuard CPU (one core)",
        "RSS peak",
        "event-loop delay p99 (max)",
        "targets",
      ],
      [
        `scale (exporter, ${ng.entry})`,
        `${hosts} × 8`,
        f.interval,
        `${cycles} (${late.length} host cycles)`,
        `${round(maxLate / 1000)} s / ${round(p99Late / 1000)} s`,
        over1s,
        `${round(probesPerSecond, 1)} (${Math.round(checksPerSecond)})`,
        `${round(cpuPercent, 1)} %`,
        `${Math.round(rssMB)} MB`,
        `${round(p99Loop, 1)} ms (${round(maxLoop, 1)} ms)`,
        [
          `lag ≤ 1 s ${over1s === 0 && hostsSeen === hosts ? "✓" : "✗"}`,
          `CPU ≤ 30 % ${cpuPercent <= 30 ? "✓" : "✗"}`,
          `RSS ≤ 400 MB ${rssMB <= 400 ? "✓" : "✗"}`,
        ].join(", "),
      ],
      {
        bench: "scale",
        nixguard: ng.entry,
        transport,
        hosts,
        checksPerHost: 8,
        intervalMs,
        cycles,
        hostCycles: late.length,
        hostsSeen,
        cycleLagMaxMs: round(maxLate, 0),
        cycleLagP99Ms: round(p99Late, 0),
        cyclesLateOver1s: over1s,
        skippedProbes: skipped,
        hostProbesPerSecond: round(probesPerSecond, 1),
        checksPerSecond: Math.round(checksPerSecond),
        cpuPercentOfOneCore: round(cpuPercent, 1),
        cpuMsPerHostProbe: round(cpuMsPerHostProbe, 3),
        rssPeakMB: Math.round(rssMB),
        eventLoopDelayP99Ms: round(p99Loop, 1),
        eventLoopDelayMaxMs: round(maxLoop, 1),
        healthyHosts: healthy,
        meanHostProbeMs: round(meanProbeMs, 1),
        simulatorCpuPercent: round(simPercent, 1),
        concurrency: Number(f.concurrency),
        warmupMs: from - startedAt,
        pass,
      },
    );
  } else {
    const hostsPerCore = intervalMs / 1000 / (cpuMsPerHostProbe / 1000);
    emit(
      [
        "bench",
        "hosts × checks",
        "interval",
        "host probes/s",
        "skipped",
        "NixGuard process CPU per host probe",
        "NixGuard CPU (one core)",
        "hosts per core at the interval",
        "RSS peak",
        "event-loop delay p99",
      ],
      [
        "scale (ssh capacity)",
        `${hosts} × 8`,
        f.interval,
        round(probesPerSecond, 1),
        skipped,
        `${round(cpuMsPerHostProbe, 2)} ms`,
        `${round(cpuPercent, 1)} %`,
        Math.round(hostsPerCore),
        `${Math.round(rssMB)} MB`,
        `${round(p99Loop, 1)} ms`,
      ],
      {
        bench: "scale-ssh",
        nixguard: ng.entry,
        transport,
        hosts,
        intervalMs,
        cycles,
        hostProbesPerSecond: round(probesPerSecond, 2),
        skippedProbes: skipped,
        okProbes: hostOk,
        cpuMsPerHostProbe: round(cpuMsPerHostProbe, 3),
        cpuPercentOfOneCore: round(cpuPercent, 1),
        hostsPerCore: Math.round(hostsPerCore),
        rssPeakMB: Math.round(rssMB),
        eventLoopDelayP99Ms: round(p99Loop, 1),
        healthyHosts: healthy,
        meanHostProbeMs: round(meanProbeMs, 1),
        simulatorCpuPercent: round(simPercent, 1),
      },
    );
  }
} catch (e) {
  failed = true;
  keep = true;
  log(`failed: ${(e as Error).message}; NixGuard's log kept in ${dir}/nixguard.log`);
} finally {
  rss.stop();
  await ng.stop();
  await recorder?.close();
  await sim.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

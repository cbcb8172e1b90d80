/**
 * `npm run soak -- --minutes 60 --hosts 1000`: a real NixGuard daemon (`node --import tsx
 * src/main.ts serve`) on a real redis-server, probing a simulated fleet, with a random fault
 * every `--fault-every` seconds (unit failures, flaps, HTTP errors, unreachable hosts, drift,
 * failing applies, and now and then Redis SIGKILLed and restarted on its AOF). Samples the
 * daemon every 10 s and reports RSS growth (minute 1 → end), heap, event-loop delay p99, open
 * handles, child processes, and actions taken per fault; ends with SIGTERM and checks the exit
 * and that no child process outlives it. Prints a markdown row and one JSON line; exits 1 when
 * --max-rss-growth is exceeded or a handle/child leaks (the CI version in test/faults/soak.test.ts).
 */
import { parseArgs } from "node:util";
import type { FaultSpec } from "../src/sim/faults.js";
import { processesInDir } from "../test/helpers/fake-nixops4.js";
import { type Daemon, descendants, memoryOf, startDaemon, tail } from "../test/helpers/fault-daemon.js";
import { api, type FaultFleet, sleep, startFaultFleet } from "../test/helpers/fault-fleet.js";
import { startRedis, type TestRedis } from "../test/helpers/redis.js";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "60" },
    hosts: { type: "string", default: "1000" },
    "fault-every": { type: "string", default: "15" },
    "max-rss-growth": { type: "string", default: "0.2" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
  },
});
const minutes = Number(args.minutes);
const hostCount = Number(args.hosts);
const faultEveryMs = Number(args["fault-every"]) * 1000;
const maxGrowth = Number(args["max-rss-growth"]);
let seed = Number(args.seed);
const random = () => {
  // mulberry32: a reproducible fault sequence for a given --seed.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

interface Sample {
  atMs: number;
  rss: number;
  heapUsed: number;
  eventLoopP99: number;
  handles: number;
  children: number;
  actions: number;
}

const metric = (text: string, name: string) => {
  let sum = 0;
  let found = false;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) {
    sum += Number(m[1]);
    found = true;
  }
  return found ? sum : Number.NaN;
};

async function sample(d: Daemon, t0: number): Promise<Sample | undefined> {
  try {
    const text = (await api(d.url, "/metrics", { timeoutMs: 5_000 })).text;
    return {
      atMs: Date.now() - t0,
      rss: memoryOf(d.pid).rss,
      heapUsed: metric(text, "nixguard_nodejs_heap_size_used_bytes"),
      eventLoopP99: metric(text, "nixguard_nodejs_eventloop_lag_p99_seconds"),
      handles: metric(text, "nixguard_nodejs_active_handles"),
      children: descendants(d.pid).length,
      actions: metric(text, "nixguard_actions_total"),
    };
  } catch {
    return undefined; // Redis down mid-scrape is fine; the next sample counts.
  }
}

async function injectRandom(
  fleet: FaultFleet,
  redis: TestRedis,
  hosts: string[],
  faults: Record<string, number>,
) {
  const host = pick(hosts);
  const unit = "mastodon-web.service";
  const kinds = [
    "unit-fail",
    "unit-stop",
    "flap",
    "http",
    "unreachable",
    "drift",
    "nixops4-fail",
    "heal",
    "redis",
  ];
  const kind = pick(kinds);
  faults[kind] = (faults[kind] ?? 0) + 1;
  const spec: Record<string, FaultSpec> = {
    "unit-fail": { kind: "unit-fail", host, unit },
    "unit-stop": { kind: "unit-stop", host, unit },
    flap: { kind: "flap", host, unit, periodMs: 5_000 },
    http: { kind: "http", host, check: "mastodon-health", status: 502 },
    unreachable: { kind: "unreachable", host, mode: "refused" },
    drift: { kind: "drift", host },
  };
  if (spec[kind]) await fleet.control.inject(spec[kind]);
  else if (kind === "nixops4-fail") await fleet.control.setNixops4({ mode: "fail", times: 2 });
  else if (kind === "heal") await fleet.control.healAll();
  else if (kind === "redis") {
    await redis.kill();
    await sleep(2_000);
    await redis.start();
  }
}

async function main() {
  const redis = await startRedis();
  const fleet = await startFaultFleet({ hosts: hostCount, transport: "exporter", applyDelayMs: 1_000 });
  const hosts = (await fleet.control.hosts()).map((h) => h.name);
  const interval = hostCount > 200 ? "10s" : "2s";
  const config = fleet.writeConfig({
    redisUrl: redis.url,
    prefix: "soak",
    overrides: {
      probes: { interval, timeout: "3s", jitter: 0.1, failureThreshold: 2 },
      remediation: {
        settle: "5s",
        backoff: { initial: "5s", max: "1m" },
        budget: { deployment: { max: 20, window: "10m" }, global: { max: 200, window: "10m" } },
        quarantine: { cooldown: "2m" },
      },
    },
  });
  const daemon = await startDaemon({ config, name: "soak", timeoutMs: 120_000 });
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  const samples: Sample[] = [];
  const faults: Record<string, number> = {};
  let nextFault = t0 + faultEveryMs;
  let nextSample = t0;
  while (Date.now() < end && daemon.alive()) {
    if (Date.now() >= nextSample) {
      const s = await sample(daemon, t0);
      if (s) samples.push(s);
      nextSample += 10_000;
    }
    if (Date.now() >= nextFault) {
      await injectRandom(fleet, redis, hosts, faults).catch((e) =>
        process.stderr.write(`soak: fault: ${e}\n`),
      );
      nextFault += faultEveryMs;
    }
    await sleep(250);
  }
  const survived = daemon.alive();
  if (!survived)
    process.stderr.write(
      `soak: the daemon died (${JSON.stringify(await daemon.exited)}):\n${tail(daemon.lines, 30)}\n`,
    );
  await fleet.control.healAll();
  await fleet.control.setNixops4({ mode: "ok" });
  await sleep(3_000);
  const last = await sample(daemon, t0);
  if (last) samples.push(last);

  daemon.signal("SIGTERM");
  const exit = await Promise.race([daemon.exited, sleep(60_000).then(() => undefined)]);
  if (!exit) await daemon.kill();
  await sleep(500);
  const orphans = processesInDir(fleet.flakeDir).length + descendants(daemon.pid).length;

  // Minute 1: the median of the samples around it; the end: the lowest of the last three. A GC
  // sawtooth or a busy machine moves single samples; a leak moves them all.
  const around = samples.filter((s) => s.atMs >= 45_000 && s.atMs <= 75_000).sort((a, b) => a.rss - b.rss);
  const atMinute1 = around[Math.floor(around.length / 2)] ?? samples[0];
  const lastThree = samples.slice(-3).sort((a, b) => a.rss - b.rss);
  const final = lastThree[0] ? { ...(samples.at(-1) as Sample), rss: lastThree[0].rss } : undefined;
  const MB = 1024 * 1024;
  const faultCount = Object.values(faults).reduce((a, b) => a + b, 0);
  const result = {
    bench: "soak",
    minutes,
    hosts: hostCount,
    seed: Number(args.seed),
    faults: faultCount,
    faultsByKind: faults,
    survived,
    exitCode: exit?.code ?? null,
    rssMinute1MB: +((atMinute1?.rss ?? 0) / MB).toFixed(1),
    rssEndMB: +((final?.rss ?? 0) / MB).toFixed(1),
    rssGrowth: atMinute1 && final ? +((final.rss - atMinute1.rss) / atMinute1.rss).toFixed(3) : null,
    heapUsedEndMB: +((final?.heapUsed ?? 0) / MB).toFixed(1),
    eventLoopP99MaxMs: +(Math.max(...samples.map((s) => s.eventLoopP99 || 0)) * 1000).toFixed(1),
    handlesMinute1: atMinute1?.handles ?? null,
    handlesEnd: final?.handles ?? null,
    childrenEnd: final?.children ?? null,
    orphansAfterStop: orphans,
    actions: final?.actions ?? 0,
    actionsPerFault: faultCount > 0 ? +((final?.actions ?? 0) / faultCount).toFixed(2) : 0,
  };
  const problems: string[] = [];
  if (!survived) problems.push("the daemon died");
  if (result.exitCode !== 0) problems.push(`exit code ${result.exitCode} after SIGTERM`);
  if (result.rssGrowth !== null && result.rssGrowth > maxGrowth)
    problems.push(`RSS grew ${(result.rssGrowth * 100).toFixed(1)} % (limit ${maxGrowth * 100} %)`);
  // Handles: sockets and timers come and go with probes; a leak grows with time, past any jitter.
  if (atMinute1 && final && final.handles > atMinute1.handles * 1.5 + 20)
    problems.push(`open handles ${atMinute1.handles} → ${final.handles}`);
  if (orphans > 0) problems.push(`${orphans} child process(es) outlived the daemon`);

  process.stdout.write(
    `| soak ${minutes} min, ${hostCount} hosts | ${faultCount} faults | RSS ${result.rssMinute1MB} → ${result.rssEndMB} MB (${((result.rssGrowth ?? 0) * 100).toFixed(1)} %) | heap ${result.heapUsedEndMB} MB | event loop p99 ≤ ${result.eventLoopP99MaxMs} ms | handles ${result.handlesMinute1} → ${result.handlesEnd} | ${result.actionsPerFault} actions/fault |\n`,
  );
  process.stdout.write(`${JSON.stringify({ ...result, problems })}\n`);
  await fleet.close();
  await redis.stop();
  process.exitCode = problems.length > 0 ? 1 : 0;
}

await main();

/**
 * GET /api/v1/hosts/:name at 2,000 req/s against a bare fastify route loaded the same way in the
 * same run: p50/p99 of both and the p99 ratio. Targets: route p99 ≤ 5 ms, ratio ≤ 2.
 *
 * Both servers run in a child process of their own (bench/_lib/api-latency-server.ts: the real
 * API stack — Manager, RuntimeControlPlane, the embedded redis-server — over `hosts` × 8 checks);
 * only the load generator runs here. Bare and route alternate in short rounds (bare, route, then
 * route, bare, …) so the shared machine's noise falls on both. p99 is given pooled over every
 * round and as the median of the rounds' p99s (and the ratio as the median of each round's
 * route/bare): one burst of another process's work ruins the pooled p99 of a whole run but only
 * one round of the median. `pass` is on the pooled figures. Besides latency, the child's CPU per
 * request, which the noise hardly moves.
 *
 * --load paced (default): open loop, one request every 1/rate s (bench/_lib/paced-load.ts).
 * --load autocannon: autocannon's overallRate, which sends each second's requests in a burst.
 *
 * --spread all (default): request i asks for host i mod N, every host of the fleet in turn;
 * --spread one: the middle host every time. The servers observe each host anew every --refresh
 * (default 30 s, the probe interval), so answers change as in a running NixGuard.
 *
 * Run: npx tsx bench/api-latency.ts [--rate 2000] [--seconds 2] [--rounds 10] [--hosts 1000]
 *        [--load paced|autocannon] [--connections 10] [--spread all|one] [--refresh 30s|0]
 */
import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { autocannonLoad } from "./_lib/autocannon-load.js";
import { percentile, round } from "./_lib/metrics.js";
import { type LoadOptions, type LoadResult, pacedLoad } from "./_lib/paced-load.js";
import { cpuSeconds } from "./_lib/proc.js";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({
  rate: "2000",
  seconds: "2",
  rounds: "10",
  hosts: "1000",
  load: "paced",
  connections: "10",
  spread: "all",
  refresh: "30s",
});
const rate = Number(f.rate);
const seconds = Number(f.seconds);
const rounds = Number(f.rounds);
const connections = Number(f.connections);
if (
  !(rate > 0 && seconds > 0 && rounds >= 1 && connections >= 1) ||
  !["paced", "autocannon"].includes(f.load) ||
  !["all", "one"].includes(f.spread)
) {
  console.error("bad flags");
  process.exit(64);
}
const load = f.load === "paced" ? pacedLoad : autocannonLoad;

interface ServerInfo {
  apiUrl: string;
  bareUrl: string;
  token: string;
  host: string;
  hosts: string[];
  checks: number;
}

const loadAtStart = os.loadavg()[0] as number;
const child = spawn(
  process.execPath,
  [
    // Extra node flags for a profiling run, e.g. NIXGUARD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
    ...(process.env["NIXGUARD_BENCH_NODE_ARGS"]?.split(" ").filter(Boolean) ?? []),
    "--import",
    "tsx",
    resolve(import.meta.dirname, "_lib/api-latency-server.ts"),
    "--hosts",
    f.hosts,
    "--refresh",
    f.refresh,
  ],
  { cwd: resolve(import.meta.dirname, ".."), stdio: ["pipe", "pipe", "inherit"] },
);
const pid = child.pid as number;

try {
  const info = await firstLine(child);
  log(
    `servers: pid ${pid}, ${f.hosts} hosts × ${info.checks} checks, ${f.load} load, ${connections} connections, spread ${f.spread}, refresh ${f.refresh}`,
  );
  const targets = {
    bare: { url: info.bareUrl, headers: {} },
    route: {
      url: `${info.apiUrl}/api/v1/hosts/${info.host}`,
      ...(f.spread === "all" ? { paths: info.hosts.map((h) => `/api/v1/hosts/${h}`) } : {}),
      headers: { authorization: `Bearer ${info.token}` },
    },
  };
  const run = async (name: keyof typeof targets, secs: number) => {
    const opts: LoadOptions = { ...targets[name], rate, seconds: secs, connections };
    const cpu0 = cpuSeconds(pid);
    const r = await load(opts);
    const cpuUsPerRequest = ((cpuSeconds(pid) - cpu0) * 1e6) / Math.max(1, r.sent);
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { r, cpuUsPerRequest };
  };

  // Warm-up: JIT, sockets, the route's first answers.
  await run("bare", 3);
  await run("route", 3);

  const all = { bare: [] as LoadResult[], route: [] as LoadResult[] };
  const cpu = { bare: [] as number[], route: [] as number[] };
  const p99s = { bare: [] as number[], route: [] as number[] };
  for (let i = 1; i <= rounds; i++) {
    for (const name of i % 2 === 1 ? (["bare", "route"] as const) : (["route", "bare"] as const)) {
      const { r, cpuUsPerRequest } = await run(name, seconds);
      all[name].push(r);
      cpu[name].push(cpuUsPerRequest);
      const s = summary([r]);
      p99s[name].push(s.p99);
      log(
        `round ${i} ${name}: p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms, ${Math.round(r.sent / r.wallSeconds)} req/s, ` +
          `server CPU ${Math.round(cpuUsPerRequest)} µs/req${r.lateP99Ms !== undefined ? `, sender late p99 ${round(r.lateP99Ms)} ms` : ""}`,
      );
    }
  }

  const bare = summary(all.bare);
  const route = summary(all.route);
  const ratio = round(route.p99 / bare.p99);
  const routeP99Median = round(median(p99s.route));
  const bareP99Median = round(median(p99s.bare));
  const ratioMedian = round(median(p99s.route.map((p, i) => p / (p99s.bare[i] as number))));
  const cpuUs = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const pass = route.p99 <= 5 && ratio <= 2;
  // How far behind schedule the generator itself sent (paced load only): a large value means the
  // machine, not the server, set the pace of that run.
  const lates = [...all.bare, ...all.route].flatMap((r) => (r.lateP99Ms === undefined ? [] : [r.lateP99Ms]));
  emit(
    [
      "bench",
      "load",
      "rate",
      "route p50/p99 ms [p99 median of rounds]",
      "bare p50/p99 ms [median]",
      "p99 ratio [median]",
      "server CPU µs/req route/bare",
      "target",
      "pass",
    ],
    [
      "api-latency",
      `${f.load}, ${connections} conn, ${f.spread === "all" ? "every host" : "one host"}`,
      `${rate}/s`,
      `${route.p50}/${route.p99} [${routeP99Median}]`,
      `${bare.p50}/${bare.p99} [${bareP99Median}]`,
      `${ratio} [${ratioMedian}]`,
      `${cpuUs(cpu.route)}/${cpuUs(cpu.bare)}`,
      "p99 ≤ 5 ms, ratio ≤ 2",
      pass ? "yes" : "NO",
    ],
    {
      bench: "api-latency",
      load: f.load,
      connections,
      spread: f.spread,
      refresh: f.refresh,
      rate,
      seconds,
      rounds,
      hosts: Number(f.hosts),
      checks: info.checks,
      routeP50Ms: route.p50,
      routeP99Ms: route.p99,
      routeMaxMs: route.max,
      bareP50Ms: bare.p50,
      bareP99Ms: bare.p99,
      bareMaxMs: bare.max,
      ratioP99: ratio,
      routeP99MedianOfRoundsMs: routeP99Median,
      bareP99MedianOfRoundsMs: bareP99Median,
      ratioP99MedianOfRounds: ratioMedian,
      ...(lates.length > 0 ? { senderLateP99MsMax: round(Math.max(...lates)) } : {}),
      loadAvg1AtStart: round(loadAtStart),
      routeCpuUsPerRequest: cpuUs(cpu.route),
      bareCpuUsPerRequest: cpuUs(cpu.bare),
      pass,
    },
  );
} finally {
  await stopChild(child);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** p50/p99/max over every latency of the given runs, in ms with two decimals. */
function summary(runs: LoadResult[]) {
  const sorted = Float64Array.from(runs.flatMap((r) => Array.from(r.latencies))).sort();
  const values = Array.from(sorted);
  return {
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(values.at(-1) ?? Number.NaN),
  };
}

/**
 * The servers' JSON line. Anything else the child prints on stdout (e.g. --trace-gc from
 * NIXGUARD_BENCH_NODE_ARGS) goes to stderr, and the pipe keeps being read so the child never
 * blocks on it.
 */
async function firstLine(proc: ChildProcess): Promise<ServerInfo> {
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  let info: ((line: string) => void) | undefined;
  lines.on("line", (line) => {
    if (info && line.startsWith("{")) {
      info(line);
      info = undefined;
    } else process.stderr.write(`[servers] ${line}\n`);
  });
  const line = await new Promise<string>((ok, fail) => {
    info = ok;
    proc.once("exit", (code) => fail(new Error(`api-latency-server exited ${code} before listening`)));
  });
  return JSON.parse(line) as ServerInfo;
}

/** SIGTERM by PID (the child stops its Manager and so its redis-server), SIGKILL after 15 s. */
async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  process.kill(pid, "SIGTERM");
  const timer = setTimeout(() => process.kill(pid, "SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

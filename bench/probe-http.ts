/**
 * HTTP probes: NixGuard's probeHttp versus Debian's prometheus-blackbox-exporter, against the same
 * loopback endpoint (served by a separate process), a fresh connection per probe on both sides,
 * same expectations (status 200, body contains "OK"). Figure: CPU-seconds per 10,000 probes of
 * each prober (NixGuard: this process; blackbox: its process, from /proc), and the ratio.
 * Target: NixGuard ≤ 0.5× blackbox_exporter.
 * Run: npx tsx bench/probe-http.ts [probes] [concurrency]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, request } from "undici";
import type { HttpCheck } from "../src/config/desired.js";
import { probeHttp } from "../src/probes/http/probe.js";
import { freePort } from "../test/helpers/redis.js";

const PROBES = Number(process.argv[2] ?? 10_000);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const WARMUP = 500;
const BLACKBOX = "/usr/bin/prometheus-blackbox-exporter";
const CLK_TCK = 100;

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-http-"));

async function waitLine(
  child: ChildProcess,
  stream: "stdout" | "stderr",
  re: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    child[stream]?.on("data", (b: Buffer) => {
      buf += b.toString();
      const m = re.exec(buf);
      if (m) resolve(m);
    });
    child.once("exit", (code) => reject(new Error(`child exited ${code}: ${buf}`)));
  });
}

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime
}

async function pool<T>(n: number, c: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main() {
  // The endpoint: a separate process, so neither prober's figure includes serving.
  const target = spawn(
    process.execPath,
    [
      "-e",
      // Counts TCP connections so the bench can show each probe opened a fresh one.
      "let n=0;const s=require('http').createServer((q,r)=>r.end(q.url==='/connections'?String(n):'OK'));" +
        "s.on('connection',()=>n++);s.listen(0,'127.0.0.1',()=>console.log('port='+s.address().port))",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(target);
  const targetPort = Number((await waitLine(target, "stdout", /port=(\d+)/))[1]);
  const url = `http://127.0.0.1:${targetPort}/health`;

  const bbPort = await freePort();
  const config = join(dir, "blackbox.yml");
  writeFileSync(
    config,
    [
      "modules:",
      "  http_ok:",
      "    prober: http",
      "    timeout: 5s",
      "    http:",
      "      valid_status_codes: [200]",
      "      preferred_ip_protocol: ip4",
      "      ip_protocol_fallback: false",
      "      fail_if_body_not_matches_regexp: ['OK']",
      "",
    ].join("\n"),
  );
  const bb = spawn(
    BLACKBOX,
    [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${bbPort}`, "--log.level=warn"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  children.push(bb);
  bb.stderr?.resume();

  const check: HttpCheck = {
    id: "http:bench",
    name: "bench",
    url,
    method: "GET",
    expectStatus: [200],
    expectBody: "OK",
    timeoutMs: 5000,
    followRedirects: false,
    tlsVerify: true,
    units: [],
  };
  const signal = new AbortController().signal;
  let failures = 0;
  const ours = async () => {
    const r = await probeHttp(check, signal);
    if (!r.ok) failures++;
  };

  // blackbox_exporter is driven over a keep-alive pool: the driver's own cost is not counted.
  const driver = new Pool(`http://127.0.0.1:${bbPort}`, { connections: CONCURRENCY });
  const probePath = `/probe?module=http_ok&target=${encodeURIComponent(url)}`;
  for (let i = 0; ; i++) {
    try {
      await (await driver.request({ path: "/-/healthy", method: "GET" })).body.dump();
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let bbFailures = 0;
  const theirs = async () => {
    const res = await driver.request({ path: probePath, method: "GET" });
    const text = await res.body.text();
    if (!/^probe_success 1$/m.test(text)) bbFailures++;
  };

  await pool(WARMUP, CONCURRENCY, ours);
  await pool(WARMUP, CONCURRENCY, theirs);
  failures = 0;
  bbFailures = 0;

  const connections = async () => {
    const res = await request(`http://127.0.0.1:${targetPort}/connections`, { dispatcher: counterClient });
    return Number(await res.body.text());
  };
  const counterClient = new Pool(`http://127.0.0.1:${targetPort}`, { connections: 1 });
  const conn0 = await connections();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await pool(PROBES, CONCURRENCY, ours);
  const oursWall = (performance.now() - w0) / 1000;
  const c1 = process.cpuUsage(c0);
  const oursCpu = (c1.user + c1.system) / 1e6;

  const oursConnections = (await connections()) - conn0;
  const conn1 = await connections();
  const b0 = cpuSecondsOf(bb.pid!);
  const w1 = performance.now();
  await pool(PROBES, CONCURRENCY, theirs);
  const theirsWall = (performance.now() - w1) / 1000;
  const theirsCpu = cpuSecondsOf(bb.pid!) - b0;
  const theirsConnections = (await connections()) - conn1;
  await driver.close();
  await counterClient.close();

  const per10k = (cpu: number) => (cpu * 10_000) / PROBES;
  const ratio = per10k(oursCpu) / per10k(theirsCpu);
  const result = {
    bench: "probe-http",
    probes: PROBES,
    concurrency: CONCURRENCY,
    nixguardCpuSecondsPer10k: Number(per10k(oursCpu).toFixed(3)),
    blackboxCpuSecondsPer10k: Number(per10k(theirsCpu).toFixed(3)),
    ratio: Number(ratio.toFixed(3)),
    target: 0.5,
    pass: ratio <= 0.5,
    nixguardProbesPerSecond: Math.round(PROBES / oursWall),
    blackboxProbesPerSecond: Math.round(PROBES / theirsWall),
    nixguardConnections: oursConnections,
    blackboxConnections: theirsConnections,
    nixguardFailures: failures,
    blackboxFailures: bbFailures,
  };
  console.log(
    "| bench | probes | NixGuard CPU-s / 10k | blackbox_exporter CPU-s / 10k | ratio | target |\n|---|---|---|---|---|---|",
  );
  console.log(
    `| probe-http | ${PROBES} × ${CONCURRENCY} parallel | ${result.nixguardCpuSecondsPer10k} | ${result.blackboxCpuSecondsPer10k} | ${result.ratio}× | ≤ 0.5× ${result.pass ? "✓" : "✗"} |`,
  );
  console.log(JSON.stringify(result));
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

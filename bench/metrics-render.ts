/**
 * /metrics with 10,000 hosts × 8 checks: render time (p50/p99 over repeated scrapes) and size.
 * Target: p99 ≤ 250 ms. Run: npx tsx bench/metrics-render.ts [hosts] [checks] [runs]
 */
import { performance } from "node:perf_hooks";
import { renderMetrics } from "../src/api/metrics-text.js";
import { createMetrics } from "../src/metrics.js";

const hosts = Number(process.argv[2] ?? 10_000);
const checks = Number(process.argv[3] ?? 8);
const runs = Number(process.argv[4] ?? 40);

const m = createMetrics({ version: "bench" });
const deployments = Math.max(1, Math.round(hosts / 100));
for (let i = 0; i < hosts; i++) {
  const deployment = `deployment-${i % deployments}`;
  const host = `host-${i}`;
  m.hostUp.set({ deployment, host }, i % 50 === 0 ? 0 : 1);
  m.drift.set({ deployment, host }, 0);
  m.quarantined.set({ deployment, host }, 0);
  for (let c = 0; c < checks; c++) {
    const check = c < checks - 2 ? `unit-${c}.service` : `http:check-${c}`;
    m.checkUp.set({ deployment, host, check }, 1);
    if (check.startsWith("http:")) m.tlsExpiry.set({ deployment, host, check }, 1_900_000_000);
  }
}
for (let d = 0; d < deployments; d++) {
  m.deployDuration.observe({ deployment: `deployment-${d}`, outcome: "success" }, 120);
  m.lastDeploySuccess.set({ deployment: `deployment-${d}` }, 1_750_000_000);
}

const times: number[] = [];
let bytes = 0;
let series = 0;
// Between scrapes a probe cycle re-sets every series (prom-client replaces each entry on set),
// and 1 % of the values actually change: the realistic worst case for the series cache.
const resetAll = (round: number) => {
  for (let i = 0; i < hosts; i++) {
    const deployment = `deployment-${i % deployments}`;
    const host = `host-${i}`;
    m.hostUp.set({ deployment, host }, (i + round) % 100 === 0 ? 0 : 1);
    for (let c = 0; c < checks; c++) {
      const check = c < checks - 2 ? `unit-${c}.service` : `http:check-${c}`;
      m.checkUp.set({ deployment, host, check }, (i + c + round) % 100 === 0 ? 0 : 1);
    }
  }
};
for (let i = 0; i < runs + 3; i++) {
  resetAll(i);
  const t0 = performance.now();
  const text = await renderMetrics(m.registry);
  const dt = performance.now() - t0;
  if (i >= 3) times.push(dt); // the first renders warm up the JIT
  bytes = Buffer.byteLength(text);
  series = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
}
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
const result = {
  bench: "metrics-render",
  hosts,
  checks,
  series,
  runs,
  p50Ms: +q(0.5).toFixed(1),
  p99Ms: +q(0.99).toFixed(1),
  bytes,
  targetP99Ms: 250,
  pass: q(0.99) <= 250,
};
console.log("| bench | hosts × checks | series | p50 ms | p99 ms | bytes | target | pass |");
console.log("|---|---|---|---|---|---|---|---|");
console.log(
  `| metrics-render | ${hosts} × ${checks} | ${series} | ${result.p50Ms} | ${result.p99Ms} | ${bytes} | p99 ≤ 250 ms | ${result.pass ? "yes" : "NO"} |`,
);
console.log(JSON.stringify(result));

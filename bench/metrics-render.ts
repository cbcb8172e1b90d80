/**
 * /metrics with 10,000 hosts × 8 checks: render time (p50/p99 over repeated scrapes) and size.
 * Target: p99 ≤ 250 ms. Run: npx tsx bench/metrics-render.ts [hosts] [runs]
 *
 * The per-host gauges come from a real HealthBook fed the simulator's fleet (8 checks per host),
 * as in `nixguard serve`; between scrapes every host is observed again and 1 % of the checks
 * change state, the realistic worst case for the line cache of the stored gauges.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { renderMetrics } from "../src/api/metrics-text.js";
import type { HostSpec } from "../src/config/desired.js";
import { parseConfig } from "../src/config/load.js";
import { silentLogger } from "../src/log.js";
import { createMetrics } from "../src/metrics.js";
import { HealthBook } from "../src/runtime/health-book.js";
import { healthyObservation } from "./_lib/observation.js";
import { offlineFleetConfig } from "./_lib/offline-fleet.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const hosts = Number(process.argv[2] ?? 10_000);
const runs = Number(process.argv[3] ?? 40);

const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-metrics-"));
const loaded = (() => {
  try {
    return parseConfig(offlineFleetConfig(hosts, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
const specs: HostSpec[] = loaded.desired.deployments.flatMap((d) => d.hosts);
const checks = (specs[0]?.units.length ?? 0) + (specs[0]?.http.length ?? 0);

const m = createMetrics({ version: "bench" });
const book = new HealthBook({
  getConfig: () => ({
    ...loaded.config,
    probes: { ...loaded.config.probes, failureThreshold: 1, successThreshold: 1 },
  }),
  metrics: m,
  logger: silentLogger(),
  isSuppressed: () => false,
  onHealth: () => undefined,
});
for (const d of loaded.desired.deployments) {
  m.deployDuration.observe({ deployment: d.name, outcome: "success" }, 120);
  m.lastDeploySuccess.set({ deployment: d.name }, 1_750_000_000);
  for (const h of d.hosts) {
    m.drift.set({ deployment: d.name, host: h.name }, 0);
    m.quarantined.set({ deployment: d.name, host: h.name }, 0);
  }
}

const times: number[] = [];
let bytes = 0;
let series = 0;
const observeAll = (round: number) => {
  const at = Date.now();
  specs.forEach((spec, i) => {
    const ids = [...spec.units.map((u) => u.id), ...spec.http.map((c) => c.id)];
    book.observe(
      spec,
      healthyObservation(spec, at, (id) => (i + ids.indexOf(id) + round) % 100 === 0),
    );
  });
};
for (let i = 0; i < runs + 3; i++) {
  observeAll(i);
  // The observations' garbage is collected before the clock starts: the render is what is
  // measured, not the collection of what the setup left behind (the render's own garbage counts).
  gc();
  const t0 = performance.now();
  const text = await renderMetrics(m.registry);
  const dt = performance.now() - t0;
  if (i >= 3) times.push(dt); // the first renders warm up the JIT
  bytes = Buffer.byteLength(text);
  series = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
}
book.close();
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

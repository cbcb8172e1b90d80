/**
 * GET /api/v1/hosts/:name at a fixed 2,000 req/s (autocannon), against a bare fastify route
 * measured in the same run: p99 and the ratio. Targets: p99 ≤ 5 ms, ratio ≤ 2.
 * Run: npx tsx bench/api-latency.ts [rate] [seconds]
 */
import autocannon from "autocannon";
import Fastify from "fastify";
import { makeToken } from "../src/api/auth.js";
import { startServer } from "../src/api/server.js";
import { silentLogger } from "../src/log.js";
import { createMetrics } from "../src/metrics.js";
import { FakeControlPlane } from "../test/helpers/fake-control-plane.js";

const rate = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 10);
const TOKEN = "bench-token-0123456789abcdef";

// 1,000 hosts × 8 checks behind the fake control plane (an in-memory map, like the real one's cache).
const deployments: Record<string, string[]> = {};
for (let d = 0; d < 10; d++)
  deployments[`dep${d}`] = Array.from({ length: 100 }, (_, h) => `host${d * 100 + h}`);
const api = await startServer(
  {
    control: new FakeControlPlane({ deployments, checks: 8 }),
    metrics: createMetrics({ version: "bench", processMetrics: false }),
    tokens: [makeToken("bench", "read", TOKEN)],
    logger: silentLogger(),
    config: { metricsAuth: false, bodyLimit: 65_536, rateLimit: { max: 30, window: 60_000 } },
  },
  "127.0.0.1:0",
);

const bare = Fastify();
bare.get("/bare", async () => ({ ok: true }));
await bare.listen({ host: "127.0.0.1", port: 0 });
const bareAddr = bare.server.address();
const bareUrl = `http://127.0.0.1:${typeof bareAddr === "object" && bareAddr ? bareAddr.port : 0}/bare`;

async function measure(url: string, headers: Record<string, string> = {}) {
  // The load generator runs in its own worker thread so it does not share the servers' event loop.
  const r = await autocannon({
    url,
    headers,
    connections: 20,
    overallRate: rate,
    duration: seconds,
    workers: 1,
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average };
}

// Warm both up, then measure each once.
await measure(bareUrl);
await measure(`${api.url}/api/v1/hosts/host123`, { authorization: `Bearer ${TOKEN}` });
const base = await measure(bareUrl);
const host = await measure(`${api.url}/api/v1/hosts/host123`, { authorization: `Bearer ${TOKEN}` });
await api.close();
await bare.close();

const ratio = host.p99 / Math.max(base.p99, 1);
const result = {
  bench: "api-latency",
  rate,
  seconds,
  hostP50Ms: host.p50,
  hostP99Ms: host.p99,
  bareP50Ms: base.p50,
  bareP99Ms: base.p99,
  ratioP99: +ratio.toFixed(2),
  rps: host.rps,
  pass: host.p99 <= 5 && ratio <= 2,
};
console.log("| bench | rate | route p50/p99 ms | bare p50/p99 ms | p99 ratio | target | pass |");
console.log("|---|---|---|---|---|---|---|");
console.log(
  `| api-latency | ${rate}/s | ${host.p50}/${host.p99} | ${base.p50}/${base.p99} | ${result.ratioP99} | p99 ≤ 5 ms, ratio ≤ 2 | ${result.pass ? "yes" : "NO"} |`,
);
console.log(JSON.stringify(result));

/**
 * The two servers bench/api-latency.ts measures, in a process of their own so the load generator
 * never shares their event loop or CPU accounting:
 *  - NixGuard's API as `nixguard serve` runs it: a Manager with the api role, the embedded
 *    redis-server (its own process, unix socket), the real RuntimeControlPlane, over `hosts` sim
 *    hosts × 8 checks, each host observed healthy so the answer has every check and an
 *    observation in it, and observed again every `refresh` (default 30 s, the probes' interval;
 *    spread evenly, as the probe scheduler does) so answers change as often as in a running
 *    NixGuard. No controller role: nothing probes or plans while the route is measured.
 *  - A bare fastify route on its own port, the baseline the route's p99 is divided by.
 * Prints one JSON line {pid, apiUrl, bareUrl, token, host, hosts} on stdout when both listen;
 * stops on SIGTERM, or when stdin closes (the bench died).
 * Run by the bench: node --import tsx bench/_lib/api-latency-server.ts --hosts 1000 [--refresh 30s|0]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { makeToken } from "../../src/api/auth.js";
import type { HostSpec } from "../../src/config/desired.js";
import { parseDuration } from "../../src/config/duration.js";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { Manager } from "../../src/manager.js";
import { healthyObservation } from "./observation.js";
import { offlineFleetConfig } from "./offline-fleet.js";
import { flags } from "./report.js";

const f = flags({ hosts: "1000", refresh: "30s" });
const hosts = Number(f.hosts);
const refreshMs = f.refresh === "0" ? 0 : parseDuration(f.refresh);
if (refreshMs === undefined) {
  console.error(`--refresh: expected a duration such as 30s or 0, got ${f.refresh}`);
  process.exit(64);
}
const dir = mkdtempSync(join(tmpdir(), "nixguard-bench-api-"));
// Without the controller role nothing probes: observations are fed in below.
const input = offlineFleetConfig(hosts, dir);
const token = randomBytes(24).toString("base64url");
const manager = new Manager({
  loaded: parseConfig(input),
  logger: createLogger({ level: "warn", destination: process.stderr }),
  roles: { controller: false, worker: false, api: true },
  tokens: [makeToken("bench", "read", token)],
  listen: "127.0.0.1:0",
});
await manager.start();

const specs: HostSpec[] = manager.current.desired.deployments.flatMap((d) => d.hosts);
const now = Date.now();
for (const spec of specs) manager.health.observe(spec, healthyObservation(spec, now));
// Every host observed anew once per refresh period, a few every 100 ms.
let nextRefresh = 0;
const perTick = refreshMs > 0 ? specs.length / (refreshMs / 100) : 0;
let owed = 0;
const refresher =
  refreshMs > 0
    ? setInterval(() => {
        owed += perTick;
        const at = Date.now();
        for (; owed >= 1; owed--) {
          const spec = specs[nextRefresh++ % specs.length] as HostSpec;
          manager.health.observe(spec, healthyObservation(spec, at));
        }
      }, 100)
    : undefined;

const bare = Fastify();
bare.get("/bare", async () => ({ ok: true }));
await bare.listen({ host: "127.0.0.1", port: 0 });
const bareAddr = bare.server.address();
const barePort = typeof bareAddr === "object" && bareAddr ? bareAddr.port : 0;

// The middle host of the middle deployment: a lookup that walks the fleet pays for half of it.
const middle = specs[Math.floor(specs.length / 2)] as HostSpec;
process.stdout.write(
  `${JSON.stringify({
    pid: process.pid,
    apiUrl: manager.url,
    bareUrl: `http://127.0.0.1:${barePort}/bare`,
    token,
    host: middle.name,
    hosts: specs.map((h) => h.name),
    checks: middle.units.length + middle.http.length,
  })}\n`,
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(refresher);
  await bare.close();
  await manager.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.once("SIGTERM", () => void stop());
process.stdin.on("end", () => void stop());
process.stdin.resume();

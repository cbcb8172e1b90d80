import { createServer, type Server } from "node:http";
import type { ConfigInput } from "../../src/config/schema.js";
import type { Fleet } from "../../src/sim/fleet.js";
import { renderExporter } from "../../src/sim/render/exporter.js";
import { percentile } from "./metrics.js";

/**
 * The simulator's node_exporter endpoint, plus the time of every scrape per host: when each
 * host's probe actually reached its target is what "cycle lag" means. Runs in the benchmark's
 * process, so its cost never counts as NixGuard's.
 */
export interface ScrapeRecorder {
  url: string;
  /** Scrape times (epoch ms) per host name. */
  times: Map<string, number[]>;
  close(): Promise<void>;
}

export async function startScrapeRecorder(fleet: Fleet): Promise<ScrapeRecorder> {
  const times = new Map<string, number[]>();
  // node_exporter (Go net/http) keeps idle connections open indefinitely; a Node default of 5 s,
  // or any value near the interval, would make every scrape open a new connection.
  const server: Server = createServer({ keepAliveTimeout: 600_000 }, (req, res) => {
    const now = Date.now();
    const m = /^\/exporter\/([^/]+)\/metrics$/.exec(req.url ?? "");
    const host = m ? fleet.host(decodeURIComponent(m[1] as string)) : undefined;
    if (!host) {
      res.writeHead(404).end();
      return;
    }
    const list = times.get(host.def.name) ?? [];
    if (list.length === 0) times.set(host.def.name, list);
    list.push(now);
    const body = renderExporter(fleet, host);
    res.writeHead(200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    times,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Lateness of every cycle that ended inside [from, to]: the gap between a host's two successive
 * scrapes minus the interval (jitter 0, so the scheduler aims at exactly one interval), sorted,
 * with the figures every bench reports of it: worst, p99, and how many came more than 1 s late.
 */
export function cycleLateness(times: Map<string, number[]>, from: number, to: number, intervalMs: number) {
  const late: number[] = [];
  let hostsSeen = 0;
  for (const list of times.values()) {
    let seen = false;
    for (let i = 1; i < list.length; i++) {
      const t = list[i] as number;
      if (t < from || t > to) continue;
      seen = true;
      late.push(t - (list[i - 1] as number) - intervalMs);
    }
    if (seen) hostsSeen++;
  }
  late.sort((a, b) => a - b);
  const maxLate = late.length > 0 ? Math.max(0, late[late.length - 1] as number) : Number.NaN;
  return {
    late,
    hostsSeen,
    maxLate,
    p99Late: Math.max(0, percentile(late, 99)),
    over1s: late.filter((l) => l > 1000).length,
  };
}

/** Unit states from the recording endpoint instead of the simulator's own (same bodies). */
export function pointExportersAt(cfg: ConfigInput, simUrl: string, recorderUrl: string): void {
  for (const dep of Object.values(cfg.deployments ?? {})) {
    for (const h of Object.values(dep.hosts) as { exporterUrl?: string }[]) {
      if (h.exporterUrl) h.exporterUrl = h.exporterUrl.replace(simUrl, recorderUrl);
    }
  }
}

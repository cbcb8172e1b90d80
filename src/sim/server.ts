import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { handleControl } from "./control-api.js";
import { type Pending, serveEndpoint } from "./endpoints.js";
import {
  FAKE_REMOTE_COMMANDS,
  type FakeRemoteCommand,
  fakeNixops4,
  fakeRemote,
  fakeSsh,
  stepSnippet,
  switchFinished,
} from "./fakes.js";
import { Fleet } from "./fleet.js";
import { defaultRouting, type SimLayout, type SimRouting } from "./layout.js";
import { Nixops4Sim } from "./nixops4.js";
import { parseRelayBody } from "./relay.js";
import { renderExporter } from "./render/exporter.js";

/**
 * ONE HTTP server on loopback for the whole simulated fleet:
 *   /sim/fake/…                 the fake executables' relays (bin.ts)
 *   /sim/…                      the JSON control API (control-api.ts)
 *   /exporter/<host>/metrics    each host's node_exporter
 *   /addr/<host>/<path>         an address-routed endpoint (Garage admin) by path
 *   Host: <service vhost>       the service's public endpoints (routed by Host header)
 *   any path on a host address  address-routed endpoints, when routing = "address": the same
 *                               port is also bound on every host's own 127.x address
 */
export interface SimServerOptions {
  fleet: Fleet;
  /** Port for every listener (default 0: any free one). */
  port?: number;
  /** "address": also listen on each host's own loopback address (default for ≤ 500 hosts). */
  routing?: SimRouting;
}

export interface SimServer {
  /** http://127.0.0.1:PORT — the control URL the fakes and the client use. */
  url: string;
  port: number;
  routing: SimRouting;
  fleet: Fleet;
  nixops4: Nixops4Sim;
  /** Requests served, by kind (for benchmarks: the simulator's own load). */
  stats: Record<string, number>;
  /**
   * When each host's node_exporter was last scraped (epoch ms, the newest EXPORTER_LOG_LENGTH per
   * host): the gaps between probes of a host, whoever probed it (tests, bench/shared-probing.ts).
   */
  exporterLog: Map<string, number[]>;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

export async function startSimServer(opts: SimServerOptions): Promise<SimServer> {
  const { fleet } = opts;
  const nixops4 = new Nixops4Sim(fleet);
  const routing = opts.routing ?? defaultRouting(fleet.size);
  const pending: Pending = new Set();
  const stats: Record<string, number> = {};
  const exporterLog = new Map<string, number[]>();
  const count = (k: string) => {
    stats[k] = (stats[k] ?? 0) + 1;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    if (path.startsWith("/sim/fake/")) {
      count("fake");
      return serveFake(path.slice(10), body, res);
    }
    if (path.startsWith("/sim/") || path === "/sim") {
      count("control");
      return handleControl(fleet, nixops4, method, path, body, res);
    }
    const exporter = /^\/exporter\/([^/]+)\/metrics$/.exec(path);
    if (exporter) {
      count("exporter");
      const host = fleet.host(decodeURIComponent(exporter[1] as string));
      if (!host) return text(res, 404, "no such host\n");
      logScrape(exporterLog, host.def.name, Date.now());
      if (fleet.unreachable(host)) return hold(res);
      return text(res, 200, renderExporter(fleet, host), "text/plain; version=0.0.4; charset=utf-8");
    }
    const addr = /^\/addr\/([^/]+)(\/.*)$/.exec(path);
    if (addr) {
      count("http");
      const host = fleet.host(decodeURIComponent(addr[1] as string));
      if (!host) return text(res, 404, "no such host\n");
      return serveEndpoint(fleet, host, "address", addr[2] as string, req, res, pending);
    }
    const hostname = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    const vhost = fleet.vhost(hostname);
    if (vhost) {
      count("http");
      return serveEndpoint(fleet, vhost.host, "vhost", path, req, res, pending, vhost.service);
    }
    const byAddress = fleet.host(req.socket.localAddress?.replace(/^::ffff:/, "") ?? "");
    if (byAddress && routing === "address") {
      count("http");
      return serveEndpoint(fleet, byAddress, "address", path, req, res, pending);
    }
    count("misrouted");
    return text(res, 421, `no simulated host serves ${hostname || "this address"}\n`);
  };

  const serveFake = (rest: string, body: Buffer, res: ServerResponse) => {
    let snippet: string;
    try {
      const req = parseRelayBody(body);
      if (rest === "ssh") snippet = fakeSsh(fleet, req);
      else if (rest === "nixops4") snippet = fakeNixops4(nixops4, req);
      else if (rest.startsWith("nixops4-finish/")) snippet = stepSnippet(nixops4.finish(rest.slice(15)));
      else if (rest.startsWith("systemd-run-finish/")) snippet = switchFinished(fleet, rest.slice(19));
      else if (
        rest.startsWith("remote/") &&
        FAKE_REMOTE_COMMANDS.includes(rest.slice(7) as FakeRemoteCommand)
      )
        snippet = fakeRemote(fleet, rest.slice(7) as FakeRemoteCommand, req);
      else return text(res, 404, "unknown fake\n");
    } catch (e) {
      return text(res, 400, `${(e as Error).message}\n`);
    }
    return text(res, 200, snippet);
  };

  const hold = (res: ServerResponse) => {
    pending.add(res);
    res.on("close", () => pending.delete(res));
  };

  const server: Server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  await listen(server, opts.port ?? 0, "127.0.0.1");
  const port = (server.address() as { port: number }).port;
  const extra: NetServer[] = [];
  if (routing === "address") {
    try {
      for (const h of fleet.hosts()) {
        const l = createNetServer((sock) => server.emit("connection", sock));
        await listen(l, port, h.def.address);
        extra.push(l);
      }
    } catch (e) {
      await Promise.all([...extra, server].map(closeQuietly));
      throw e;
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    routing,
    fleet,
    nixops4,
    stats,
    exporterLog,
    async close() {
      for (const res of pending) res.destroy();
      pending.clear();
      server.closeAllConnections();
      await Promise.all([...extra, server].map(closeQuietly));
    },
  };
}

/** A fleet from a layout plus its server, in one call (what the demo and the benches need). */
export async function startSimulation(
  layout: SimLayout,
  opts: Omit<SimServerOptions, "fleet"> = {},
): Promise<SimServer> {
  return startSimServer({ ...opts, fleet: new Fleet(layout) });
}

const EXPORTER_LOG_LENGTH = 64;

function logScrape(log: Map<string, number[]>, host: string, at: number): void {
  const times = log.get(host);
  if (!times) log.set(host, [at]);
  else {
    times.push(at);
    if (times.length > EXPORTER_LOG_LENGTH) times.shift();
  }
}

/**
 * The longest the host went unscraped during [from, to] (ms): from its last scrape before `from`
 * (or `from`) through each scrape in the window to `to`.
 */
export function longestGap(times: readonly number[], from: number, to: number): number {
  let last = from;
  for (const t of times) if (t < from) last = t;
  let gap = 0;
  for (const t of times) {
    if (t < from) continue;
    if (t > to) break;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.max(gap, to - last);
}

function text(res: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function listen(s: Server | NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, host, () => {
      s.off("error", reject);
      resolve();
    });
  });
}

function closeQuietly(s: Server | NetServer): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

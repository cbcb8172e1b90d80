import type { IncomingMessage, ServerResponse } from "node:http";
import { CATALOG, type CatalogHttpCheck } from "../config/catalog.js";
import type { ServiceName } from "../config/schema.js";
import type { Fleet, SimHost } from "./fleet.js";

/**
 * The simulated services' own HTTP answers, and nginx's when the upstream is down.
 * Bodies are what the services return: Mastodon `/health` and the streaming API's health
 * `OK`, Pixelfed's health-check `OK`, PeerTube's ping `pong`, GoToSocial's livez/readyz an
 * empty 200, Garage's admin /health a short text.
 */

const BODIES: Record<string, string> = {
  "mastodon/health": "OK",
  "mastodon/streaming": "OK",
  "pixelfed/health": "OK",
  "peertube/ping": "pong",
  "gotosocial/livez": "",
  "gotosocial/readyz": "",
  "garage/admin-health":
    "Garage is fully operational\nConsult the full health check API endpoint at /v2/GetClusterHealth for more details\n",
};

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
};

export function nginxPage(status: number): string {
  const title = `${status} ${REASONS[status] ?? "Error"}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

/** Requests held open on purpose (hung hosts, slow endpoints): closed when the server stops. */
export type Pending = Set<ServerResponse>;

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    ...(type.startsWith("text/html") ? { server: "nginx" } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

export function findCheck(
  service: ServiceName,
  via: "vhost" | "address",
  path: string,
): CatalogHttpCheck | undefined {
  return CATALOG[service].http.find((c) => c.via === via && c.path === path);
}

/** Serves one request for `host`'s `service` check at `path` (vhost- or address-routed). */
export function serveEndpoint(
  fleet: Fleet,
  host: SimHost,
  via: "vhost" | "address",
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  pending: Pending,
  vhostService?: ServiceName,
): void {
  const services = vhostService ? [vhostService] : host.def.services;
  let found: { service: ServiceName; check: CatalogHttpCheck } | undefined;
  for (const service of services) {
    const check = findCheck(service, via, path);
    if (check) {
      found = { service, check };
      break;
    }
  }
  if (!found && via === "vhost" && services.includes("mastodon") && path.startsWith("/api/v1/streaming/")) {
    // nixpkgs' nginx strips /api/v1/streaming/ before the streaming server sees the path; any
    // path it does not know (its health is /api/v1/streaming/health *after* the strip) is a
    // channel it refuses.
    send(req, res, 400, '{"error":"Unknown channel requested"}', "application/json; charset=utf-8");
    return;
  }
  if (!found) {
    if (via === "vhost") send(req, res, 404, nginxPage(404), "text/html");
    else send(req, res, 404, "Not found\n", "text/plain");
    return;
  }
  const verdict = fleet.http(host, found.service, found.check);
  if (verdict.kind === "refused") {
    // Nothing listens on the service's port when it is down; the closest a shared port gets.
    req.socket.destroy();
    return;
  }
  if (verdict.kind === "hang") {
    pending.add(res);
    res.on("close", () => pending.delete(res));
    return;
  }
  const respond = () => {
    pending.delete(res);
    if (res.destroyed) return;
    if (verdict.kind === "ok")
      send(
        req,
        res,
        200,
        BODIES[`${found.service}/${found.check.name}`] ?? "OK",
        "text/plain; charset=utf-8",
      );
    else send(req, res, verdict.status, nginxPage(verdict.status), "text/html");
  };
  if (verdict.delayMs > 0) {
    pending.add(res);
    const timer = setTimeout(respond, verdict.delayMs);
    res.on("close", () => {
      clearTimeout(timer);
      pending.delete(res);
    });
  } else respond();
}

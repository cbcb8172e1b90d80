import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allHosts } from "../../../src/config/desired.js";
import { parseConfig } from "../../../src/config/load.js";
import { probeHttp } from "../../../src/probes/http/probe.js";

/**
 * Mastodon's streaming check against a vhost built like nixpkgs' nginx one
 * (nixos/modules/services/web-apps/mastodon.nix):
 *
 *   location ^~ /api/v1/streaming/ { proxy_pass http://mastodon-streaming/; … }
 *
 * proxy_pass with a URI replaces the matched prefix, so /api/v1/streaming/X reaches the
 * streaming server as /X. The streaming server answers its health endpoint,
 * /api/v1/streaming/health, with 200 "OK" and anything else it does not know with 400
 * "Unknown channel requested". Two real local HTTP servers stand for nginx and the backend.
 */
const PREFIX = "/api/v1/streaming/";
let backend: Server;
let vhost: Server;
let vhostPort = 0;
const reached: string[] = [];

function streamingServer(req: IncomingMessage, res: ServerResponse): void {
  reached.push(req.url ?? "");
  if (req.url === "/api/v1/streaming/health") {
    res.writeHead(200, { "content-type": "text/plain" }).end("OK");
    return;
  }
  res.writeHead(400, { "content-type": "application/json" }).end('{"error":"Unknown channel requested"}');
}

function nginxLike(backendPort: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (!url.startsWith(PREFIX)) {
      res.writeHead(404, { server: "nginx" }).end("not found");
      return;
    }
    // `^~ PREFIX` + `proxy_pass http://upstream/`: the matched prefix becomes "/".
    const upstream = request(
      {
        host: "127.0.0.1",
        port: backendPort,
        path: `/${url.slice(PREFIX.length)}`,
        method: req.method,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end("bad gateway"));
    req.pipe(upstream);
  };
}

const listen = (s: Server) =>
  new Promise<number>((resolve) =>
    s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)),
  );

beforeAll(async () => {
  backend = createServer(streamingServer);
  const backendPort = await listen(backend);
  vhost = createServer(nginxLike(backendPort));
  vhostPort = await listen(vhost);
});
afterAll(async () => {
  await new Promise((r) => vhost.close(r));
  await new Promise((r) => backend.close(r));
});

const streamingCheck = () => {
  const { desired } = parseConfig({
    deployments: {
      d: {
        flake: "/srv/d",
        hosts: {
          m: {
            address: "127.0.0.1",
            services: ["mastodon"],
            serviceOptions: {
              mastodon: {
                hostname: "mastodon.example.org",
                streamingProcesses: 1,
                scheme: "http",
                port: vhostPort,
              },
            },
          },
        },
      },
    },
  });
  return allHosts(desired)[0]!.http.find((c) => c.name === "mastodon-streaming")!;
};

describe("Mastodon streaming health through nixpkgs' nginx location", () => {
  it("passes: the catalog's path reaches the streaming server's health endpoint through the prefix strip", async () => {
    const check = streamingCheck();
    reached.length = 0;
    const r = await probeHttp(check, new AbortController().signal);
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(reached).toEqual(["/api/v1/streaming/health"]);
  });

  it("the path that looks right is stripped to /health and answered 400 by the streaming server", async () => {
    const check = {
      ...streamingCheck(),
      url: `http://mastodon.example.org:${vhostPort}/api/v1/streaming/health`,
    };
    reached.length = 0;
    const r = await probeHttp(check, new AbortController().signal);
    expect(r).toMatchObject({ ok: false, status: 400 });
    expect(reached).toEqual(["/health"]);
  });
});

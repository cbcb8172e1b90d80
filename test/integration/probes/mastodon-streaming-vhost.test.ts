import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
 * "Unknown channel requested". A real nginx (Debian's, installed by .ci/run) runs that location
 * in front of a local HTTP server standing for the streaming server.
 */
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p)) ?? "nginx";
let backend: Server;
let nginx: ChildProcess | undefined;
let dir: string | undefined;
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

const listen = (s: Server) =>
  new Promise<number>((resolve) =>
    s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)),
  );

/** A loopback port nobody holds right now (nginx binds it next). */
async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** nixpkgs' Mastodon vhost, reduced to the streaming location and what nginx needs to run unprivileged in a temp dir. */
function nginxConf(dir: string, port: number, backendPort: number): string {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${dir}/${t};`)
    .join("\n");
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
${temp}
  upstream mastodon-streaming {
    least_conn;
    server 127.0.0.1:${backendPort};
  }
  server {
    listen 127.0.0.1:${port};
    server_name mastodon.example.org;
    location ^~ /api/v1/streaming/ {
      proxy_set_header Host $host;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_pass http://mastodon-streaming/;
    }
    location / { return 404; }
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
}
`;
}

beforeAll(async () => {
  backend = createServer(streamingServer);
  const backendPort = await listen(backend);
  dir = mkdtempSync(join(tmpdir(), "ng-nginx-"));
  vhostPort = await freePort();
  writeFileSync(join(dir, "nginx.conf"), nginxConf(dir, vhostPort, backendPort));
  nginx = spawn(NGINX, ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  nginx.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  // Ready when it answers: its 404 for a path outside the streaming location.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited ${nginx.exitCode}: ${stderr}`);
    const up = await fetch(`http://127.0.0.1:${vhostPort}/`).then(
      (r) => r.status === 404,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${vhostPort}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx!.once("exit", r));
    nginx.kill("SIGTERM");
    await exited;
  }
  await new Promise((r) => backend.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
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

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpCheck } from "../../../src/config/desired.js";
import { probeHttp } from "../../../src/probes/http/probe.js";
import { freePort } from "../../helpers/redis.js";

const HOST = "mastodon.example.org";
let dir: string;
let plain: Server;
let plainPort: number;
const tlsServers: Server[] = [];
const seen: { host?: string; servername?: string; authorization?: string } = {};
let requests = 0;

function handler(req: IncomingMessage, res: ServerResponse): void {
  requests++;
  seen.host = req.headers.host;
  seen.servername = (req.socket as TLSSocket).servername || undefined;
  seen.authorization = req.headers.authorization;
  switch (req.url) {
    case "/health":
      res.end("OK");
      return;
    case "/500":
      res.statusCode = 500;
      res.end("boom");
      return;
    case "/ping":
      res.end("pong");
      return;
    case "/slow":
      return; // never answers
    case "/redirect":
      res.writeHead(302, { location: "/health" }).end();
      return;
    case "/loop":
      res.writeHead(302, { location: "/loop" }).end();
      return;
    case "/endless": {
      // A page that never ends: the check reads its first 256 KB and stops.
      res.writeHead(200);
      const chunk = `needle ${"x".repeat(16 * 1024)}`;
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", more);
      };
      more();
      return;
    }
    case "/late-needle":
      res.end(`${"x".repeat(300 * 1024)}needle`);
      return;
    case "/auth":
      res.statusCode = req.headers.authorization === "Bearer s3cret-token" ? 200 : 401;
      res.end();
      return;
    default:
      res.statusCode = 404;
      res.end();
  }
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

async function tlsServer(cert: string, key: string): Promise<number> {
  const s = createHttpsServer(
    { cert: readFileSync(join(dir, cert)), key: readFileSync(join(dir, key)) },
    handler,
  );
  tlsServers.push(s);
  return listen(s);
}

const check = (over: Partial<HttpCheck>): HttpCheck => ({
  id: "http:test",
  name: "test",
  url: `http://127.0.0.1:${plainPort}/health`,
  method: "GET",
  expectStatus: [200],
  timeoutMs: 5000,
  followRedirects: false,
  tlsVerify: true,
  units: [],
  ...over,
});

const probe = (over: Partial<HttpCheck>) => probeHttp(check(over), new AbortController().signal);

let caPort: number;
let selfPort: number;
let expiredPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "nixguard-http-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=NixGuard test CA",
  ]);
  writeFileSync(join(dir, "ext"), `subjectAltName=DNS:${HOST}\n`);
  openssl(["req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", `/CN=${HOST}`]);
  const sign = (out: string, days: string) =>
    openssl([
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      out,
      "-days",
      days,
      "-extfile",
      "ext",
    ]);
  sign("leaf.pem", "30");
  // OpenSSL 3.0 has no -not_after; -days -1 ends the validity yesterday.
  sign("expired.pem", "-1");
  openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "self.key",
    "-out",
    "self.pem",
    "-days",
    "30",
    "-subj",
    `/CN=${HOST}`,
    "-addext",
    `subjectAltName=DNS:${HOST}`,
  ]);
  plain = createHttpServer(handler);
  plainPort = await listen(plain);
  caPort = await tlsServer("leaf.pem", "leaf.key");
  selfPort = await tlsServer("self.pem", "self.key");
  expiredPort = await tlsServer("expired.pem", "leaf.key");
});

afterAll(async () => {
  for (const s of [plain, ...tlsServers]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("probeHttp against local servers", () => {
  it("200 with the expected body is ok, with a human reason", async () => {
    const r = await probe({ expectBody: "OK" });
    expect(r).toMatchObject({ ok: true, result: "ok", status: 200, check: "http:test" });
    expect(r.reason).toMatch(new RegExp(`^GET http://127\\.0\\.0\\.1:${plainPort}/health → 200 in \\d+ ms$`));
  });

  it("500 fails with the status in the reason", async () => {
    const r = await probe({ url: `http://127.0.0.1:${plainPort}/500` });
    expect(r).toMatchObject({ ok: false, result: "fail", status: 500 });
    expect(r.reason).toMatch(/→ 500 in \d+ ms$/);
  });

  it("accepts any status of the expected set", async () => {
    expect((await probe({ url: `http://127.0.0.1:${plainPort}/500`, expectStatus: [200, 500] })).ok).toBe(
      true,
    );
  });

  it("times out, aborts, and leaves no connection open", async () => {
    const r = await probe({ url: `http://127.0.0.1:${plainPort}/slow`, timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, result: "timeout", reason: "timeout after 300 ms" });
    expect(r.durationMs).toBeLessThan(2000);
    await new Promise((res) => setTimeout(res, 100));
    const open = await new Promise<number>((res) => plain.getConnections((_, n) => res(n)));
    expect(open).toBe(0);
  });

  it("body substring and regex mismatches fail with the reason", async () => {
    const url = `http://127.0.0.1:${plainPort}/ping`;
    expect((await probe({ url, expectBody: "pong" })).ok).toBe(true);
    const sub = await probe({ url, expectBody: "OK" });
    expect(sub).toMatchObject({ result: "fail", status: 200 });
    expect(sub.reason).toMatch(/body lacks "OK"$/);
    expect((await probe({ url, expectBodyRegex: "^po+ng$" })).ok).toBe(true);
    expect((await probe({ url, expectBodyRegex: "^ok$" })).reason).toMatch(/body does not match \/\^ok\$\/$/);
  });

  it("reads at most 256 KB of a body: an endless page is judged on its start and closed", async () => {
    const endless = await probe({ url: `http://127.0.0.1:${plainPort}/endless`, expectBody: "needle" });
    expect(endless).toMatchObject({ ok: true, result: "ok", status: 200 });
    const late = await probe({ url: `http://127.0.0.1:${plainPort}/late-needle`, expectBody: "needle" });
    expect(late).toMatchObject({ result: "fail", status: 200 });
    expect(late.reason).toMatch(/body lacks "needle"$/);
    await new Promise((res) => setTimeout(res, 100));
    const open = await new Promise<number>((res) => plain.getConnections((_, n) => res(n)));
    expect(open).toBe(0);
  });

  it("does not follow redirects unless asked, and bounds them", async () => {
    const url = `http://127.0.0.1:${plainPort}/redirect`;
    expect(await probe({ url })).toMatchObject({ result: "fail", status: 302 });
    expect(await probe({ url, expectStatus: [302] })).toMatchObject({ result: "ok" });
    const followed = await probe({ url, followRedirects: true, expectBody: "OK" });
    expect(followed).toMatchObject({ result: "ok", status: 200 });
    expect(followed.reason).toContain("/health → 200");
    const loop = await probe({ url: `http://127.0.0.1:${plainPort}/loop`, followRedirects: true });
    expect(loop).toMatchObject({ result: "fail", reason: expect.stringContaining("more than 5 redirects") });
  });

  it("a closed port is an error: connection refused", async () => {
    const port = await freePort();
    const r = await probe({ url: `http://127.0.0.1:${port}/` });
    expect(r).toMatchObject({ result: "error", reason: `GET http://127.0.0.1:${port}/: connection refused` });
  });

  it("sends the bearer token and never puts it in the result", async () => {
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-token\n");
    const url = `http://127.0.0.1:${plainPort}/auth`;
    const r = await probe({ url, bearerTokenFile: tokenFile });
    expect(r.ok).toBe(true);
    expect(seen.authorization).toBe("Bearer s3cret-token");
    expect(JSON.stringify(r)).not.toContain("s3cret");
    expect(await probe({ url })).toMatchObject({ status: 401 });
    expect(await probe({ url, bearerTokenFile: join(dir, "missing") })).toMatchObject({
      result: "error",
      reason: expect.stringContaining("ENOENT"),
    });
  });

  it("sends the bearer token on redirects within the configured origin only", async () => {
    const tokenFile = join(dir, "token-redirect");
    writeFileSync(tokenFile, "s3cret-token\n");
    const auth: Record<string, string | undefined> = {};
    const away = createHttpServer((req, res) => {
      auth["away"] = req.headers.authorization;
      res.end("OK");
    });
    const awayPort = await listen(away);
    const home = createHttpServer((req, res) => {
      auth[req.url ?? ""] = req.headers.authorization;
      if (req.url === "/go-away") res.writeHead(302, { location: `http://127.0.0.1:${awayPort}/x` }).end();
      else if (req.url === "/go-home") res.writeHead(302, { location: "/landing" }).end();
      else res.end("OK");
    });
    const homePort = await listen(home);
    try {
      const base = `http://127.0.0.1:${homePort}`;
      const check = { followRedirects: true, bearerTokenFile: tokenFile };
      expect(await probe({ url: `${base}/go-home`, ...check })).toMatchObject({ result: "ok" });
      expect(auth["/landing"]).toBe("Bearer s3cret-token");
      expect(await probe({ url: `${base}/go-away`, ...check })).toMatchObject({ result: "ok" });
      expect(auth["/go-away"]).toBe("Bearer s3cret-token");
      expect("away" in auth).toBe(true);
      expect(auth["away"]).toBeUndefined();
    } finally {
      for (const s of [home, away]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});

describe("probeHttp over TLS", () => {
  const tls = (port: number, over: Partial<HttpCheck> = {}) =>
    probe({ url: `https://${HOST}:${port}/health`, resolve: "127.0.0.1", ...over });

  it("connects to the resolve address with the URL's name as SNI and Host, and records expiry", async () => {
    const r = await tls(caPort, { caFile: join(dir, "ca.pem") });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(seen.servername).toBe(HOST);
    expect(seen.host).toBe(`${HOST}:${caPort}`);
    const notAfter = execFileSync("openssl", ["x509", "-in", join(dir, "leaf.pem"), "-noout", "-enddate"], {
      encoding: "utf8",
    });
    expect(r.tlsExpiresAt).toBe(Date.parse(notAfter.trim().replace("notAfter=", "")));
  });

  it("refuses a certificate from an unknown CA without the CA file", async () => {
    const r = await tls(caPort);
    expect(r).toMatchObject({ ok: false, result: "fail", reason: "certificate not trusted: unknown issuer" });
    expect(r.tlsExpiresAt).toBeGreaterThan(Date.now());
  });

  it("a self-signed certificate fails without its CA file and passes with it", async () => {
    expect(await tls(selfPort)).toMatchObject({
      result: "fail",
      reason: "certificate not trusted: self-signed",
    });
    expect(await tls(selfPort, { caFile: join(dir, "self.pem") })).toMatchObject({ result: "ok" });
    expect(await tls(selfPort, { tlsVerify: false })).toMatchObject({ result: "ok" });
  });

  it("an expired certificate fails with how long ago it expired", async () => {
    const r = await tls(expiredPort, { caFile: join(dir, "ca.pem") });
    expect(r).toMatchObject({ ok: false, result: "fail" });
    expect(r.reason).toMatch(/^certificate expired (1 day|2\d hours) ago$/);
    expect(r.tlsExpiresAt).toBeLessThan(Date.now());
  });

  it("a name the certificate does not cover fails", async () => {
    const r = await probe({
      url: `https://other.example.org:${caPort}/health`,
      resolve: "127.0.0.1",
      caFile: join(dir, "ca.pem"),
    });
    expect(r).toMatchObject({ result: "fail", reason: "certificate does not match the host name" });
  });

  it("sends no request to a server that failed verification", async () => {
    const before = requests;
    expect(await tls(selfPort)).toMatchObject({ result: "fail" });
    expect(requests).toBe(before);
  });

  it("a server that accepts but never completes the handshake times out, leaving no connection", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const mute = createNetServer((s) => {
      sockets.add(s);
      s.resume(); // reads (and drops) the ClientHello, so the client's close is seen
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => mute.listen(0, "127.0.0.1", r));
    const port = (mute.address() as AddressInfo).port;
    try {
      const r = await probe({ url: `https://${HOST}:${port}/health`, resolve: "127.0.0.1", timeoutMs: 300 });
      expect(r).toMatchObject({ ok: false, result: "timeout", reason: "timeout after 300 ms" });
      await new Promise((res) => setTimeout(res, 100));
      expect(sockets.size).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });
});

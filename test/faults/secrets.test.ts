import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registeredRoutes } from "../../src/api/app.js";
import {
  ALL_LINES,
  type Daemon,
  killAllDaemons,
  msg,
  scaled,
  secretLeaks,
  startDaemon,
} from "../helpers/fault-daemon.js";
import { api, type FaultFleet, poll, sleep, startFaultFleet } from "../helpers/fault-fleet.js";
import { freePort } from "../helpers/redis.js";
import { fixture } from "../unit/api/fixture.js";

/**
 * Security 11 against a real daemon: the route table (no unauthenticated admin route), secrets
 * never in a log line, a group/world-readable token file warned about, /metrics hiding nothing.
 * The secrets: both API tokens, the Redis password (a redis-server with requirepass), a webhook
 * URL's query token, and the contents of the ssh identity file.
 */
let fleet: FaultFleet;
let d: Daemon;
let redis: ChildProcess;
const redisPassword = `ngfault-redispw-${process.pid}-${Date.now()}`;
const hookSecret = `ngfault-hooksecret-${process.pid}-${Date.now()}`;
const keySecret = `ngfault-sshkey-${process.pid}-${Date.now()}`;
let secrets: string[];

beforeAll(async () => {
  fleet = await startFaultFleet();
  const port = await freePort();
  redis = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--requirepass",
      redisPassword,
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((r) =>
    redis.stdout?.on("data", (b: Buffer) => b.toString().includes("Ready") && r()),
  );
  // The read token's file is world-readable on purpose: a warning, not a failure.
  chmodSync(fleet.readFile, 0o644);
  const identity = join(fleet.dir, "id_ed25519");
  writeFileSync(
    identity,
    `-----BEGIN OPENSSH PRIVATE KEY-----\n${keySecret}\n-----END OPENSSH PRIVATE KEY-----\n`,
    {
      mode: 0o600,
    },
  );
  const closed = await freePort();
  secrets = [fleet.tokens.admin, fleet.tokens.read, redisPassword, hookSecret, keySecret];
  d = await startDaemon({
    logLevel: "debug",
    config: fleet.writeConfig({
      redisUrl: `redis://:${redisPassword}@127.0.0.1:${port}/0`,
      prefix: "secrets",
      overrides: {
        ssh: { identityFile: identity },
        notify: [
          {
            url: `http://127.0.0.1:${closed}/hook?token=${hookSecret}`,
            events: ["action", "blocked"],
            retries: 1,
          },
        ],
      },
    }),
  });
});
afterAll(async () => {
  await killAllDaemons();
  redis.kill("SIGKILL");
  await fleet.close();
});

describe("security 11: auth, logs, token files, /metrics", () => {
  it("warns about the group/world-readable token file, naming the file, not the token", async () => {
    const warn = await d.waitLog(msg(/readable by group or others/), 1_000);
    expect(warn.json).toMatchObject({ file: fleet.readFile, mode: "0644" });
    expect(warn.raw).not.toContain(fleet.tokens.read);
  });

  it(
    "route table: no route but the four open ones answers without a token; read tokens cannot POST",
    async () => {
      const spec = (await api(d.url, "/openapi.json")).body as {
        paths: Record<string, Record<string, unknown>>;
      };
      const routes = Object.entries(spec.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => ({ method: m.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ":$1") })),
      );
      // The daemon documents exactly the routes buildApp registers (nothing undocumented, nothing hidden).
      const { app } = await fixture();
      const table = registeredRoutes(app).map((r) => `${r.method} ${r.url}`);
      await app.close();
      expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(
        table.filter((r) => r !== "GET /openapi.json").sort(),
      );
      const open = ["/healthz", "/readyz", "/metrics"];
      const sample = (url: string) =>
        url.replace(
          /:(\w+)/g,
          (_, p: string) => ({ name: "garage", unit: "garage.service", id: "x1" })[p] ?? "x",
        );
      let checked = 0;
      for (const r of routes) {
        const path = sample(r.url);
        const body = r.method === "POST" ? {} : undefined;
        for (const token of [undefined, "wrong-token", `${fleet.tokens.admin}x`]) {
          const res = await api(d.url, path, { method: r.method, body, ...(token ? { token } : {}) });
          if (open.includes(r.url)) expect([200, 503]).toContain(res.status);
          else expect(res.status, `${r.method} ${path}`).toBe(401);
          checked++;
        }
        if (r.method === "POST") {
          const res = await api(d.url, path, { method: "POST", body, token: fleet.tokens.read });
          expect(res.status, `${r.method} ${path} with a read token`).toBe(403);
        }
      }
      expect(routes.length).toBeGreaterThanOrEqual(21);
      console.log(
        JSON.stringify({ security: "route-table", routes: routes.length, unauthenticatedChecks: checked }),
      );
    },
    scaled(30_000),
  );

  it(
    "no secret in any log line, however a client misuses the token",
    async () => {
      const { admin } = fleet.tokens;
      // Tokens where they do not belong: query string, path, other schemes and headers.
      await fetch(`${d.url}/api/v1/status?token=${admin}`);
      await fetch(`${d.url}/api/v1/${admin}`, { headers: { authorization: `Bearer ${admin}` } });
      await fetch(`${d.url}/api/v1/status`, { headers: { authorization: `Basic ${admin}` } });
      await fetch(`${d.url}/api/v1/status`, {
        headers: { authorization: `Token ${admin}`, "x-api-key": admin },
      });
      await fetch(`${d.url}/api/v1/reconcile`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: `{"deployments": ["${admin}"]}`,
      });
      // Work that logs: an action (its event goes to the dead webhook), a failing probe.
      await fleet.control.inject({
        kind: "unit-fail",
        host: "garage",
        unit: "garage.service",
        keepFailing: true,
      });
      const hookLogged = await poll(
        () => ALL_LINES.some((l) => /webhook/.test(String(l.json?.msg))),
        scaled(20_000),
        250,
      );
      expect(
        hookLogged,
        ALL_LINES.slice(-30)
          .map((l) => l.raw)
          .join("\n"),
      ).toBe(true);
      await sleep(1_000);
      expect(ALL_LINES.length).toBeGreaterThan(50);
      expect(secretLeaks(secrets)).toEqual([]);
      console.log(
        JSON.stringify({
          security: "log-secrets",
          linesSearched: ALL_LINES.length,
          secrets: secrets.length,
          found: 0,
        }),
      );
    },
    scaled(40_000),
  );

  it("/metrics, /api/v1/status and /openapi.json hold none of the secrets", async () => {
    for (const path of ["/metrics", "/openapi.json"]) {
      const text = (await api(d.url, path)).text;
      for (const s of secrets) expect(text.includes(s), `${path} holds a secret`).toBe(false);
    }
    for (const path of ["/api/v1/status", "/api/v1/hosts", "/api/v1/events?limit=1000", "/api/v1/jobs"]) {
      const text = (await api(d.url, path, { token: fleet.tokens.read })).text;
      for (const s of secrets) expect(text.includes(s), `${path} holds a secret`).toBe(false);
    }
    expect((await api(d.url, "/metrics")).text).toMatch(/^nixguard_build_info/m);
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeToken } from "../../../src/api/auth.js";
import { parseConfig } from "../../../src/config/load.js";
import { StateStore } from "../../../src/controller/state-store.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { unitState } from "../../helpers/unit-state.js";

/**
 * GET /api/v1/hosts/:name through the real control plane (RuntimeControlPlane over a real Redis):
 * which host a name means, and the paused / quarantined / drift flags read from the records the
 * controller and the API write, each for this host only and only while in force.
 */
const ADMIN = "host-detail-admin-token-0123456789";
let redis: TestRedis;
let dir: string;
let manager: Manager;

const host = (address: string) => ({ address, units: ["nginx.service"], transport: "local" as const });

/** A host detail or an error answer: only the fields the tests read. */
interface Answer {
  paused?: boolean;
  quarantined?: boolean;
  drift?: boolean;
  message?: string;
  [field: string]: unknown;
}

async function get(path: string) {
  const res = await fetch(`${manager.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Answer };
}

async function flags(name: string, deployment?: string) {
  const r = await get(`/api/v1/hosts/${name}${deployment ? `?deployment=${deployment}` : ""}`);
  expect(r.status).toBe(200);
  const { paused, quarantined, drift } = r.body;
  return { paused, quarantined, drift };
}

/** Feeds web1's health book an observation, as a probe does. */
function observe(at: number, activeState: string) {
  const spec = manager.current.desired.deployments
    .find((d) => d.name === "web")!
    .hosts.find((h) => h.name === "web1")!;
  return manager.health.observe(spec, {
    deployment: "web",
    host: "web1",
    at,
    durationMs: 3,
    reachable: true,
    facts: {
      units: {
        "nginx.service": unitState("nginx.service", activeState),
      },
      disks: [],
    },
    http: [],
  });
}

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), "nixguard-host-detail-"));
  manager = new Manager({
    loaded: parseConfig({
      redis: { url: redis.url, prefix: "hd" },
      state: { dir: join(dir, "state"), runtimeDir: join(dir, "run") },
      deployments: {
        web: { flake: "/var/lib/deploy", hosts: { web1: host("10.0.0.1"), shared: host("10.0.0.2") } },
        db: { flake: "/var/lib/deploy", hosts: { db1: host("10.0.1.1"), shared: host("10.0.1.2") } },
      },
    }),
    logger: silentLogger(),
    // The API alone: nothing probes or plans, so only this test writes the records.
    roles: { controller: false, worker: false, api: true },
    tokens: [makeToken("ops", "admin", ADMIN)],
    listen: "127.0.0.1:0",
    processMetrics: false,
  });
  await manager.start();
}, 30_000);

afterAll(async () => {
  await manager?.stop();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("GET /api/v1/hosts/:name on the real control plane", () => {
  it("finds a host by name, asks for ?deployment= when two deployments have it, 404 names the unknown", async () => {
    const one = await get("/api/v1/hosts/db1");
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ address: "10.0.1.1", health: { deployment: "db", host: "db1" } });
    const ambiguous = await get("/api/v1/hosts/shared");
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.message).toMatch(/deployment=/);
    const chosen = await get("/api/v1/hosts/shared?deployment=db");
    expect(chosen.body).toMatchObject({ address: "10.0.1.2", health: { deployment: "db" } });
    expect((await get("/api/v1/hosts/db1?deployment=web")).body).toMatchObject({ resource: "host" });
    expect((await get("/api/v1/hosts/db1?deployment=nope")).body).toMatchObject({ resource: "deployment" });
    expect((await get("/api/v1/hosts/nope")).body).toMatchObject({ resource: "host" });
  });

  it("is paused only by a pause in force that covers it", async () => {
    expect(await flags("web1")).toEqual({ paused: false, quarantined: false, drift: false });
    const res = await fetch(`${manager.url}/api/v1/pause`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ scope: "deployment/web", reason: "migrating" }),
    });
    expect(res.status).toBe(200);
    expect((await flags("web1")).paused).toBe(true);
    expect((await flags("shared", "web")).paused).toBe(true);
    expect((await flags("shared", "db")).paused).toBe(false);
    // An expired pause no longer counts, though its record is still there.
    await manager.store.setPause({
      scope: { kind: "host", deployment: "db", host: "db1" },
      reason: "over",
      actor: "ops",
      since: Date.now() - 120_000,
      until: Date.now() - 60_000,
    });
    expect((await flags("db1")).paused).toBe(false);
    await manager.store.setPause({
      scope: { kind: "global" },
      reason: "freeze",
      actor: "ops",
      since: Date.now(),
    });
    expect((await flags("db1")).paused).toBe(true);
    await manager.store.removePause({ kind: "global" });
    await manager.store.removePause({ kind: "deployment", deployment: "web" });
    expect((await flags("web1")).paused).toBe(false);
  });

  it("is quarantined by its own or its deployment's quarantine until the cooldown ends", async () => {
    const now = Date.now();
    await manager.store.setQuarantine({
      deployment: "db",
      host: "db1",
      since: now,
      until: now + 60_000,
      reason: "x",
    });
    expect((await flags("db1")).quarantined).toBe(true);
    expect((await flags("shared", "db")).quarantined).toBe(false);
    await manager.store.setQuarantine({
      deployment: "web",
      since: now - 20_000,
      until: now - 10_000,
      reason: "x",
    });
    expect((await flags("web1")).quarantined).toBe(false);
    await manager.store.setQuarantine({ deployment: "web", since: now, until: now + 60_000, reason: "x" });
    expect((await flags("web1")).quarantined).toBe(true);
    expect((await flags("shared", "web")).quarantined).toBe(true);
    expect((await flags("shared", "db")).quarantined).toBe(false);
  });

  it("has drift only when its own deployment/host is marked drifted", async () => {
    await manager.store.setDrift("db", "shared", Date.now());
    expect((await flags("shared", "db")).drift).toBe(true);
    expect((await flags("shared", "web")).drift).toBe(false);
    expect((await flags("db1")).drift).toBe(false);
    await manager.store.setDrift("db", "shared", undefined);
    expect((await flags("shared", "db")).drift).toBe(false);
  });

  it("answers anew once the host is observed again, and keeps the answer while nothing changed", async () => {
    const raw = async () => {
      const res = await fetch(`${manager.url}/api/v1/hosts/web1`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      const text = await res.text();
      expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(text)));
      return text;
    };
    const at1 = Date.now();
    observe(at1, "active");
    const first = await raw();
    expect(JSON.parse(first)).toMatchObject({
      lastObservation: { at: at1, facts: { units: { "nginx.service": { activeState: "active" } } } },
      health: { checks: { "nginx.service": { state: "healthy" } } },
    });
    expect(await raw()).toBe(first);
    observe(at1 + 1, "failed");
    const second = JSON.parse(await raw());
    expect(second.lastObservation).toMatchObject({
      at: at1 + 1,
      facts: { units: { "nginx.service": { activeState: "failed" } } },
    });
    expect(second.health.checks["nginx.service"].consecutiveFailures).toBe(1);
  });

  it("shows a pause that ends by itself, with no write, as ended", async () => {
    // An observed host: its answer is kept between requests, and must not outlive the pause.
    observe(Date.now(), "active");
    await manager.store.setPause({
      scope: { kind: "host", deployment: "web", host: "web1" },
      reason: "brief",
      actor: "ops",
      since: Date.now(),
      until: Date.now() + 300,
    });
    expect((await flags("web1")).paused).toBe(true);
    expect((await flags("web1")).paused).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect((await flags("web1")).paused).toBe(false);
  });

  it("shows a pause another process wrote, through its announcement", async () => {
    const other = new Redis(redis.url);
    try {
      expect((await flags("web1")).paused).toBe(false);
      await new StateStore(other, "hd").setPause({
        scope: { kind: "host", deployment: "web", host: "web1" },
        reason: "from the other process",
        actor: "ops",
        since: Date.now(),
      });
      const end = Date.now() + 3_000;
      while (!(await flags("web1")).paused) {
        if (Date.now() > end) throw new Error("the other process's pause never showed");
        await new Promise((r) => setTimeout(r, 20));
      }
      await new StateStore(other, "hd").removePause({ kind: "host", deployment: "web", host: "web1" });
    } finally {
      other.disconnect();
    }
  });
});

describe("GET /api/v1/jobs/:id on the real queue", () => {
  it("an id that names one of BullMQ's own keys is an unknown job (404), not a bogus job or an error", async () => {
    const res = await fetch(`${manager.url}/api/v1/deployments/web/redeploy`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ force: true }),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    expect((await get(`/api/v1/jobs/${jobId}`)).status).toBe(200);
    for (const id of ["meta", "id", "events", "wait", "de", "stalled-check"]) {
      for (const path of [`/api/v1/jobs/${id}`, `/api/v1/jobs/${id}/log`]) {
        const r = await get(path);
        expect([path, r.status, r.body.resource]).toEqual([path, 404, "job"]);
      }
    }
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeToken } from "../../../src/api/auth.js";
import { parseConfig } from "../../../src/config/load.js";
import type { NixGuardEvent } from "../../../src/controller/types.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";
import { type SimBin, writeSimBin } from "../../../src/sim/bin.js";
import { simConfig, writeSimFlakes } from "../../../src/sim/config.js";
import { SimControlClient } from "../../../src/sim/control-client.js";
import { simLayout } from "../../../src/sim/layout.js";
import { type SimServer, startSimulation } from "../../../src/sim/server.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

/**
 * The whole daemon as `serve` wires it (Manager: real Redis, BullMQ worker, leader election,
 * probes through the production ssh transport with only `ssh` swapped for the simulator's fake,
 * the fake nixops4, the real API) against the simulated Fediversity fleet.
 */
let redis: TestRedis;
let sim: SimServer;
let bin: SimBin;
let dir: string;
let control: SimControlClient;
let manager: Manager;
let raw: ReturnType<typeof simConfig>;
const ADMIN = "e2e-admin-token-0123456789abcdef";
const READ = "e2e-read-token-0123456789abcdef";
const events: NixGuardEvent[] = [];

async function api(path: string, init: RequestInit & { token?: string } = {}) {
  const res = await fetch(`${manager.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${init.token ?? ADMIN}`,
      ...(init.body ? { "content-type": "application/json" } : {}),
    },
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.slice(-15))}`);
}

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulation(simLayout("fediversity"));
  dir = mkdtempSync(join(tmpdir(), "nixguard-e2e-"));
  bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
  control = new SimControlClient(sim.url);
  writeSimFlakes(simLayout("fediversity"), join(dir, "flake"));
  raw = simConfig({
    hosts: "fediversity",
    transport: "ssh",
    simUrl: sim.url,
    sshCommand: bin.ssh,
    nixops4Command: bin.nixops4,
    flakeDir: join(dir, "flake"),
    overrides: {
      redis: { url: redis.url, prefix: "e2e" },
      state: { dir: join(dir, "state"), runtimeDir: join(dir, "run") },
      probes: { interval: "1s", timeout: "3s", failureThreshold: 2, successThreshold: 1 },
      remediation: { settle: "1s", restartAttempts: 1, backoff: { initial: "1s", max: "2s" } },
      leader: { lease: "3s", renew: "1s" },
    },
  });
  manager = new Manager({
    loaded: parseConfig(raw),
    logger: silentLogger(),
    tokens: [makeToken("admin", "admin", ADMIN), makeToken("viewer", "read", READ)],
    listen: "127.0.0.1:0",
    processMetrics: false,
  });
  await manager.start();
  manager.events.subscribe((e) => events.push(e));
  await until("all hosts healthy", async () => {
    const r = await api("/api/v1/status");
    return r.body.hosts?.healthy === 4 ? r : undefined;
  });
}, 60_000);

afterAll(async () => {
  await manager?.stop();
  await sim?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("NixGuard against the simulated Fediversity fleet", () => {
  it("detects a failed unit, restarts it over ssh and sees the host healthy again", async () => {
    await control.inject({ kind: "unit-fail", host: "mastodon", unit: "mastodon-sidekiq-all.service" });
    await until("detect", () => events.find((e) => e.kind === "detect" && e.host === "mastodon"));
    const outcome = await until("restart outcome", () =>
      events.find((e) => e.kind === "outcome" && e.host === "mastodon" && e.action === "restart"),
    );
    expect(outcome.outcome).toBe("success");
    await until("recover", () => events.find((e) => e.kind === "recover" && e.host === "mastodon"));
    const host = await api("/api/v1/hosts/mastodon", { token: READ });
    expect(host.status).toBe(200);
    expect(host.body.health.state).toBe("healthy");
    expect(host.body.health.checks["mastodon-sidekiq-all.service"].state).toBe("healthy");
    const job = await api(`/api/v1/jobs/${outcome.jobId}`, { token: READ });
    expect(job.body).toMatchObject({ state: "completed", outcome: "success", action: { kind: "restart" } });
    // The same story through the API's event log.
    const listed = await api("/api/v1/events?host=mastodon&limit=100", { token: READ });
    expect(listed.body.map((e: NixGuardEvent) => e.kind)).toEqual(
      expect.arrayContaining(["detect", "outcome", "recover"]),
    );
  });

  it("redeploys with nixops4 when a unit keeps failing, and the deploy log is readable", async () => {
    await control.inject({
      kind: "unit-fail",
      host: "peertube",
      unit: "peertube.service",
      keepFailing: true,
    });
    // A machine has no nixops4 target of its own (Fediversity's shape): the deployment's target
    // is applied, and the decision says so.
    const redeploy = await until(
      "redeploy outcome",
      () =>
        events.find((e) => e.kind === "outcome" && e.deployment === "fediversity" && e.action === "redeploy"),
      45_000,
    );
    expect(redeploy.outcome).toBe("success");
    const decision = events.find((e) => e.action === "redeploy" && /peertube: /.test(e.reason ?? ""));
    expect(decision?.reason ?? "").toContain(
      "(peertube has no nixops4 target of its own: redeploying deployment fediversity's target fediversity, all its hosts)",
    );
    const runs = await control.applyRuns();
    expect(runs.at(-1)).toMatchObject({ tty: false, overlapped: false, status: "succeeded" });
    expect(runs.at(-1)!.argv).toEqual(expect.arrayContaining(["apply", "--no-interactive"]));
    await until("peertube healthy", async () => {
      const r = await api("/api/v1/hosts/peertube");
      return r.body.health?.state === "healthy" ? r : undefined;
    });
    const dep = await api("/api/v1/deployments/fediversity", { token: READ });
    expect(dep.body.lastDeploy).toMatchObject({ outcome: "success", jobId: expect.any(String) });
    const log = await api(`/api/v1/jobs/${redeploy.jobId}/log`);
    expect(log.status).toBe(200);
    expect(JSON.stringify(log.body)).toMatch(/Applying|apply/i);
  });

  it("reports the NixGuard host's own resources in status", async () => {
    const status = await until("self measured", async () => {
      const r = await api("/api/v1/status", { token: READ });
      return r.body.self ? r : undefined;
    });
    expect(status.body.self).toMatchObject({
      state: expect.stringMatching(/healthy|degraded/),
      cpus: expect.any(Number),
    });
    expect(status.body.self.filesystems.map((f: { path: string }) => f.path)).toContain(join(dir, "state"));
  });

  it("exposes the fleet in /metrics without a token", async () => {
    const res = await fetch(`${manager.url}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/nixguard_host_up\{deployment="fediversity",host="garage"\} 1/);
    expect(text).toMatch(
      /nixguard_actions_total\{deployment="fediversity",action="restart",outcome="success"\} [1-9]/,
    );
    expect(text).not.toContain(ADMIN);
  });

  it("refuses a manual restart while the host is paused (409), allows it with force", async () => {
    const paused = await api("/api/v1/pause", {
      method: "POST",
      body: JSON.stringify({ scope: "host/garage", reason: "e2e maintenance" }),
    });
    expect(paused.status).toBeLessThan(300);
    const refused = await api("/api/v1/hosts/garage/units/garage.service/restart", {
      method: "POST",
      body: "{}",
    });
    expect(refused.status).toBe(409);
    const forced = await api("/api/v1/hosts/garage/units/garage.service/restart", {
      method: "POST",
      body: JSON.stringify({ force: true }),
    });
    expect(forced.status).toBe(202);
    const resumed = await api("/api/v1/resume", {
      method: "POST",
      body: JSON.stringify({ scope: "host/garage", reason: "done" }),
    });
    expect(resumed.status).toBe(200);
  });

  it("follows a manual redeploy's log live over SSE until the job ends", async () => {
    await control.setNixops4({ mode: "ok", delayMs: 1500 });
    const started = await api("/api/v1/deployments/fediversity/redeploy", { method: "POST", body: "{}" });
    expect(started.status).toBe(202);
    const res = await fetch(`${manager.url}/api/v1/jobs/${started.body.jobId}/log?follow=1`, {
      headers: { authorization: `Bearer ${READ}`, accept: "text/event-stream" },
      signal: AbortSignal.timeout(30_000),
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const text = await res.text(); // ends when the job ends
    expect(text).toMatch(/Applying resource/);
    expect(text).toMatch(/event: end/);
    // The log closes as the apply ends; BullMQ marks the job completed a moment later.
    const job = await until("job completed", async () => {
      const r = await api(`/api/v1/jobs/${started.body.jobId}`);
      return r.body.state === "completed" ? r : undefined;
    });
    expect(job.body.outcome).toBe("success");
  });

  it("a process without the controller role serves the API and probes a host on demand", async () => {
    const follower = new Manager({
      loaded: manager.current,
      logger: silentLogger(),
      roles: { controller: false, worker: false, api: true },
      tokens: [makeToken("admin", "admin", ADMIN)],
      listen: "127.0.0.1:0",
      processMetrics: false,
    });
    await follower.start();
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${follower.url}/api/v1/hosts/garage/probe`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
          body: "{}",
        });
        expect(res.status).toBe(200);
        const obs = (await res.json()) as any;
        expect(obs).toMatchObject({ host: "garage", reachable: true });
        expect(obs.facts.units["garage.service"].activeState).toBe("active");
      }
      const ready = await fetch(`${follower.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await follower.stop();
    }
  });

  it("a reload that changes a host's address probes the new address at once", async () => {
    const probe = async () =>
      (await api("/api/v1/hosts/pixelfed/probe", { method: "POST", body: "{}" })).body;
    expect(await probe()).toMatchObject({ reachable: true });
    const moved = structuredClone(raw) as any;
    const dep = Object.values(moved.deployments).find((d: any) => d.hosts.pixelfed) as any;
    const address = dep.hosts.pixelfed.address;
    // Unknown to the simulator's fake ssh: "Could not resolve hostname", as a real ssh would say.
    dep.hosts.pixelfed.address = "pixelfed-moved.invalid";
    await manager.swap(parseConfig(moved));
    try {
      const obs = await probe();
      expect(obs).toMatchObject({ reachable: false });
      expect(JSON.stringify(obs.error)).toContain("pixelfed-moved.invalid");
    } finally {
      dep.hosts.pixelfed.address = address;
      await manager.swap(parseConfig(moved));
    }
    expect(await probe()).toMatchObject({ reachable: true });
  });
});

import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { FakeControlPlane } from "../../helpers/fake-control-plane.js";
import { admin, fixture, reader } from "./fixture.js";

let app: FastifyInstance;
let control: FakeControlPlane;

beforeEach(async () => {
  ({ app, control } = await fixture());
});
afterEach(async () => {
  await app.close();
});

const get = (url: string, headers: Record<string, string> = reader) =>
  app.inject({ method: "GET", url, headers });
const post = (url: string, payload?: object, headers: Record<string, string> = admin) =>
  app.inject({ method: "POST", url, headers, ...(payload ? { payload } : {}) });

describe("open endpoints", () => {
  test("healthz answers without a token", async () => {
    const r = await app.inject({ url: "/healthz" });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: "ok" });
  });

  test("readyz is 503 naming every unmet condition", async () => {
    expect((await app.inject({ url: "/readyz" })).statusCode).toBe(200);
    control.readiness_ = { configLoaded: true, redis: false, leaderKnown: false };
    const r = await app.inject({ url: "/readyz" });
    expect(r.statusCode).toBe(503);
    expect(r.json().reasons).toEqual(["Redis unreachable", "no controller holds the leader lease"]);
  });

  test("readyz says how NixGuard's own redis-server is supervised, and 503 while it restarts", async () => {
    const policy = "restarted with backoff; NixGuard exits 69 after 5 exits in 60 s";
    control.readiness_ = {
      configLoaded: true,
      redis: true,
      leaderKnown: true,
      embeddedRedis: { state: "running", restarts: 1, lastExit: "signal SIGKILL: ", policy },
    };
    const ok = await app.inject({ url: "/readyz" });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().embeddedRedis).toEqual({
      state: "running",
      restarts: 1,
      lastExit: "signal SIGKILL: ",
      policy,
    });
    control.readiness_ = {
      configLoaded: true,
      redis: false,
      leaderKnown: true,
      embeddedRedis: { state: "restarting", restarts: 1, policy },
    };
    const down = await app.inject({ url: "/readyz" });
    expect(down.statusCode).toBe(503);
    expect(down.json().reasons).toEqual([
      "Redis unreachable",
      `embedded redis-server restarting (1 restart(s); ${policy})`,
    ]);
  });

  test("metrics is the Prometheus text format", async () => {
    const r = await app.inject({ url: "/metrics" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain("nixguard_build_info");
  });

  test("openapi.json documents every /api/v1 route with bearer security", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(doc.openapi).toBe("3.0.3");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/hosts/{name}", "/api/v1/jobs/{id}/log"]),
    );
    expect(doc.paths["/api/v1/reconcile"].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/healthz"].get.security).toBeUndefined();
  });
});

describe("reads", () => {
  test("status counts hosts by state and queue by state", async () => {
    control.setHostState("fedi", "garage", "failing", "unit0.service");
    const r = await get("/api/v1/status");
    expect(r.statusCode).toBe(200);
    expect(r.json().hosts).toMatchObject({ healthy: 3, failing: 1 });
    expect(r.json().queue).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  });

  test("deployments and one deployment; unknown is 404 naming it", async () => {
    expect((await get("/api/v1/deployments")).json().map((d: { name: string }) => d.name)).toEqual([
      "fedi",
      "other",
    ]);
    const one = await get("/api/v1/deployments/fedi");
    expect(one.statusCode).toBe(200);
    expect(one.json().hostHealth).toHaveLength(2);
    const missing = await get("/api/v1/deployments/nope");
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({
      code: "NOT_FOUND",
      resource: "deployment",
      message: 'unknown deployment "nope"',
    });
  });

  test("hosts filter by state; a bad state is 400 naming the field", async () => {
    control.setHostState("other", "web", "failing", "unit1.service");
    const failing = await get("/api/v1/hosts?state=failing");
    expect(failing.json().map((h: { host: string }) => h.host)).toEqual(["web"]);
    const bad = await get("/api/v1/hosts?state=sick");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe("querystring.state");
  });

  test("host detail carries every check with state, reason and since", async () => {
    control.setHostState("fedi", "garage", "failing", "unit1.service");
    const r = await get("/api/v1/hosts/garage");
    expect(r.statusCode).toBe(200);
    const checks = r.json().health.checks;
    expect(Object.keys(checks)).toEqual(["unit0.service", "unit1.service"]);
    expect(checks["unit1.service"]).toMatchObject({ state: "failing", reason: "failed (exit-code)" });
    expect(typeof checks["unit1.service"].since).toBe("number");
  });

  test("an ambiguous host needs ?deployment; an unknown one is 404; a hostile name is 400", async () => {
    expect((await get("/api/v1/hosts/mastodon")).statusCode).toBe(400);
    expect((await get("/api/v1/hosts/mastodon?deployment=other")).json().health.deployment).toBe("other");
    expect((await get("/api/v1/hosts/ghost")).statusCode).toBe(404);
    const hostile = await get(`/api/v1/hosts/${encodeURIComponent("-oProxyCommand=x")}`);
    expect(hostile.statusCode).toBe(400);
    expect(hostile.json().field).toBe("params.name");
  });

  test("jobs by state, one job, its log; unknown job is 404", async () => {
    const { jobId } = (await post("/api/v1/deployments/fedi/redeploy")).json();
    control.startJob(jobId);
    control.appendLog(jobId, "building...");
    expect((await get("/api/v1/jobs?state=active")).json().map((j: { id: string }) => j.id)).toEqual([jobId]);
    expect((await get("/api/v1/jobs?state=waiting")).json()).toEqual([]);
    expect((await get(`/api/v1/jobs/${jobId}`)).json()).toMatchObject({
      key: "redeploy__fedi",
      actor: "ops",
    });
    const log = await get(`/api/v1/jobs/${jobId}/log`);
    expect(log.json()).toMatchObject({
      jobId,
      state: "active",
      lines: [{ stream: "stdout", text: "building..." }],
    });
    expect((await get("/api/v1/jobs/999")).statusCode).toBe(404);
    expect((await get("/api/v1/jobs/999/log")).statusCode).toBe(404);
    expect((await get("/api/v1/jobs?limit=0")).json().field).toBe("querystring.limit");
  });

  test("events filter by deployment, since and limit", async () => {
    const now = Date.now();
    control.eventLog.push(
      { time: now - 7_200_000, kind: "detect", deployment: "fedi", host: "garage" },
      { time: now - 60_000, kind: "action", deployment: "fedi", host: "garage" },
      { time: now - 30_000, kind: "detect", deployment: "other", host: "web" },
    );
    expect((await get("/api/v1/events?deployment=fedi")).json()).toHaveLength(2);
    expect((await get("/api/v1/events?since=1h")).json()).toHaveLength(2);
    expect((await get("/api/v1/events?limit=1")).json()[0].deployment).toBe("other");
    expect((await get(`/api/v1/events?since=${new Date(now - 45_000).toISOString()}`)).json()).toHaveLength(
      1,
    );
    expect((await get("/api/v1/events?since=yesterday")).json().field).toBe("querystring.since");
  });
});

describe("commands", () => {
  test("reconcile: 202 with planned actions and job ids; dry run enqueues nothing", async () => {
    control.setHostState("fedi", "garage", "failing", "unit0.service");
    const dry = await post("/api/v1/reconcile", { dryRun: true });
    expect(dry.statusCode).toBe(202);
    expect(dry.json().actions).toEqual([
      expect.objectContaining({ key: "restart__fedi__garage", decision: "planned" }),
    ]);
    expect(control.jobsById.size).toBe(0);
    const real = await post("/api/v1/reconcile", { deployments: ["fedi"] });
    expect(real.json().actions[0]).toMatchObject({ decision: "enqueued", jobId: "1", enqueue: "added" });
    expect(control.calls.at(-1)?.ctx).toEqual({ actor: "ops", force: false });
  });

  test("reconcile refuses bad input and changes nothing", async () => {
    for (const [payload, field] of [
      [{ deployments: ["fe di"] }, "body.deployments[0]"],
      [{ deployments: [] }, "body.deployments"],
      [{ dryRun: "yes please" }, "body.dryRun"],
      [{ deployment: "fedi" }, "body.deployment"],
    ] as const) {
      const r = await post("/api/v1/reconcile", payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
      expect(r.json().field).toBe(field);
    }
    expect((await post("/api/v1/reconcile", { deployments: ["nope"] })).statusCode).toBe(404);
    expect(control.jobsById.size).toBe(0);
  });

  test("a body that is not JSON is 400; an oversized one 413", async () => {
    const bad = await app.inject({
      method: "POST",
      url: "/api/v1/reconcile",
      headers: { ...admin, "content-type": "application/json" },
      payload: "{not json",
    });
    expect(bad.statusCode).toBe(400);
    const big = await post("/api/v1/pause", { scope: "global", reason: "x".repeat(70_000) });
    expect(big.statusCode).toBe(413);
  });

  test("redeploy: 202 added, then coalesced; 409 paused unless force; 404 unknown", async () => {
    const first = await post("/api/v1/deployments/fedi/redeploy");
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ key: "redeploy__fedi", jobId: "1", state: "added" });
    expect((await post("/api/v1/deployments/fedi/redeploy")).json().state).toBe("coalesced");
    await post("/api/v1/pause", { scope: "deployment/other", reason: "migrating" });
    const blocked = await post("/api/v1/deployments/other/redeploy");
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json()).toMatchObject({ code: "CONFLICT", reason: "paused" });
    expect((await post("/api/v1/deployments/other/redeploy", { force: true })).statusCode).toBe(202);
    expect((await post("/api/v1/deployments/nope/redeploy")).statusCode).toBe(404);
  });

  test("409 names maintenance, quarantined and already-running", async () => {
    control.maintenance.add("fedi");
    expect((await post("/api/v1/deployments/fedi/redeploy")).json().reason).toBe("maintenance");
    control.quarantined.add("other/web");
    expect((await post("/api/v1/hosts/web/units/unit0.service/restart")).json().reason).toBe("quarantined");
    control.busy.add("restart__fedi__garage");
    const running = await post("/api/v1/hosts/garage/units/unit0.service/restart", { force: true });
    expect(running.statusCode).toBe(409);
    expect(running.json().reason).toBe("already-running");
  });

  test("probe returns the observation; restart checks the unit grammar and that the host has it", async () => {
    const probe = await post("/api/v1/hosts/garage/probe");
    expect(probe.statusCode).toBe(200);
    expect(probe.json()).toMatchObject({ deployment: "fedi", host: "garage", reachable: true });
    expect((await post("/api/v1/hosts/garage/units/unit1.service/restart")).statusCode).toBe(202);
    const bad = await post("/api/v1/hosts/garage/units/rm%20-rf/restart");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe("params.unit");
    const unknown = await post("/api/v1/hosts/garage/units/sshd.service/restart");
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().resource).toBe("unit");
  });

  test("pause and resume: scope grammar, until in the future, 404 resuming what is not paused", async () => {
    const paused = await post("/api/v1/pause", {
      scope: "host/fedi/garage",
      reason: "disk swap",
      until: "2h",
    });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({
      scope: { kind: "host", deployment: "fedi", host: "garage" },
      actor: "ops",
    });
    expect(paused.json().until).toBeGreaterThan(Date.now() + 7_000_000);
    const past = await post("/api/v1/pause", { scope: "global", reason: "x", until: "2001-01-01T00:00:00Z" });
    expect(past.statusCode).toBe(400);
    expect(past.json().field).toBe("body.until");
    for (const scope of ["everything", "deployment/", "host/a/b/c", "deployment/a;b"]) {
      const r = await post("/api/v1/pause", { scope, reason: "x" });
      expect(r.statusCode, scope).toBe(400);
      expect(r.json().field).toBe("body.scope");
    }
    expect((await post("/api/v1/pause", { scope: "global" })).json().field).toBe("body.reason");
    expect((await post("/api/v1/pause", { scope: "global", reason: "a\nb" })).json().field).toBe(
      "body.reason",
    );
    expect((await post("/api/v1/pause", { scope: "deployment/nope", reason: "x" })).statusCode).toBe(404);
    const resumed = await post("/api/v1/resume", { scope: "host/fedi/garage", reason: "done" });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().resumed.reason).toBe("disk swap");
    expect((await post("/api/v1/resume", { scope: "host/fedi/garage", reason: "again" })).statusCode).toBe(
      404,
    );
  });

  test("reset host and deployment clear quarantine", async () => {
    control.quarantined.add("fedi/garage");
    control.quarantined.add("other");
    expect((await post("/api/v1/hosts/garage/reset")).json()).toEqual({ cleared: ["quarantine"] });
    expect((await post("/api/v1/hosts/garage/reset")).json()).toEqual({ cleared: [] });
    expect((await post("/api/v1/deployments/other/reset")).statusCode).toBe(200);
    expect(control.quarantined.size).toBe(0);
    expect((await post("/api/v1/hosts/ghost/reset")).statusCode).toBe(404);
  });

  test("config reload: ok, or 422 with the issues of the refused config", async () => {
    expect((await post("/api/v1/config/reload")).json()).toEqual({ ok: true, deployments: 1, hosts: 1 });
    control.reloadResult = {
      ok: false,
      issues: [{ path: "deployments.x.flake", message: "expected an absolute path", value: "rel" }],
    };
    const r = await post("/api/v1/config/reload");
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({
      code: "CONFIG_INVALID",
      issues: [{ path: "deployments.x.flake", value: "rel" }],
    });
  });
});

describe("dependency failures", () => {
  test("Redis down is 503 on reads and commands, with Retry-After", async () => {
    control.redisDown = true;
    for (const r of [await get("/api/v1/status"), await post("/api/v1/deployments/fedi/redeploy")]) {
      expect(r.statusCode).toBe(503);
      expect(r.json().code).toBe("REDIS_UNAVAILABLE");
      expect(r.headers["retry-after"]).toBe("5");
    }
    expect((await app.inject({ url: "/readyz" })).json().reasons).toEqual(["Redis unreachable"]);
  });
});

describe("rate limit", () => {
  test("commands beyond the limit per token are 429; reads are not limited", async () => {
    await app.close();
    ({ app, control } = await import("./fixture.js").then((f) =>
      f.fixture({ config: { rateLimit: { max: 2, window: 60_000 } } }),
    ));
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await post("/api/v1/hosts/garage/probe")).statusCode);
    expect(codes).toEqual([200, 200, 429]);
    expect((await post("/api/v1/hosts/garage/probe")).json().code).toBe("RATE_LIMITED");
    for (let i = 0; i < 5; i++) expect((await get("/api/v1/status")).statusCode).toBe(200);
  });
});

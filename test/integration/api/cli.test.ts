import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { freePort } from "../../helpers/redis.js";
import { cliRunner } from "./cli-run.js";
import { type Listening, listen, READ } from "./server.js";

let api: Listening;
const dir = mkdtempSync(join(tmpdir(), "nixguard-cli-"));
beforeAll(async () => {
  api = await listen();
});
afterEach(() => {
  api.control.pauses.length = 0;
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = cliRunner(() => api);

test("status: a table for people, the API's JSON with --json", async () => {
  const human = await run(["status"]);
  expect(human.code).toBe(0); // healthy fleet
  expect(human.stdout).toMatch(/^mode {9}enforce$/m);
  expect(human.stdout).toMatch(/^hosts {8}healthy 2, degraded 0/m);
  const json = await run(["status", "--json"]);
  expect(JSON.parse(json.stdout).hosts.healthy).toBe(2);
});

test("hosts --state failing lists only failing hosts; a bad state is a usage error (64)", async () => {
  api.control.setHostState("fedi", "mastodon", "failing", "unit0.service");
  const r = await run(["hosts", "--state", "failing"]);
  expect(r.stdout.split("\n")[0]).toMatch(/^DEPLOYMENT\s+HOST\s+STATE\s+AGE\s+REASONS$/);
  expect(r.stdout).toMatch(/^fedi\s+mastodon\s+failing\s+\S+\s+unit0\.service failed$/m);
  expect(r.stdout).not.toContain("garage");
  expect((await run(["hosts", "--state", "sick"])).code).toBe(64);
  api.control.setHostState("fedi", "mastodon", "healthy");
});

test("reconcile --follow prints the job's log live and exits 0 when it succeeds, 1 when it fails", async () => {
  const { control } = api;
  control.setHostState("fedi", "garage", "failing", "unit1.service");
  const running = run(["reconcile", "fedi", "--follow"]);
  // Act as the worker: wait for the job, then produce its output while the CLI follows.
  await expect.poll(() => [...control.jobsById.values()].find((j) => j.state === "waiting")).toBeDefined();
  const job = [...control.jobsById.values()].find((j) => j.state === "waiting")!;
  control.startJob(job.id);
  await expect
    .poll(() =>
      (control as unknown as { emitter: import("node:events").EventEmitter }).emitter.listenerCount(
        `log:${job.id}`,
      ),
    )
    .toBe(1);
  control.appendLog(job.id, "restarting unit1.service");
  control.finishJob(job.id, "success");
  const r = await running;
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^restart\s+fedi\s+garage\s+enqueued\s+\d+$/m);
  expect(r.stdout).toContain("restarting unit1.service\n");
  expect(r.stderr).toContain(`job ${job.id}: completed (success)`);

  const failing = run(["redeploy", "fedi", "--follow"]);
  await expect
    .poll(() => [...control.jobsById.values()].find((j) => j.key === "redeploy__fedi"))
    .toBeDefined();
  const deploy = [...control.jobsById.values()].find((j) => j.key === "redeploy__fedi")!;
  control.startJob(deploy.id);
  await expect
    .poll(() =>
      (control as unknown as { emitter: import("node:events").EventEmitter }).emitter.listenerCount(
        `log:${deploy.id}`,
      ),
    )
    .toBe(1);
  control.appendLog(deploy.id, "error: build failed", "stderr");
  control.finishJob(deploy.id, "failed");
  const f = await failing;
  expect(f.code).toBe(1);
  expect(f.stderr).toContain("error: build failed");
  control.setHostState("fedi", "garage", "healthy");
});

test("reconcile --dry-run shows the plan and queues nothing", async () => {
  api.control.setHostState("fedi", "mastodon", "failing", "unit0.service");
  const before = api.control.jobsById.size;
  const r = await run(["reconcile", "--dry-run", "--json"]);
  expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true, actions: [{ decision: "planned" }] });
  expect(api.control.jobsById.size).toBe(before);
  api.control.setHostState("fedi", "mastodon", "healthy");
});

test("pause and resume by host or deployment; the event records the token's name", async () => {
  const p = await run(["pause", "--host", "fedi/garage", "--reason", "disk swap", "--until", "1h"]);
  expect(p).toMatchObject({ code: 0, stdout: "paused host/fedi/garage\n" });
  expect(api.control.pauses[0]).toMatchObject({ actor: "ops", reason: "disk swap" });
  expect((await run(["resume", "--host", "fedi/garage", "--reason", "done"])).code).toBe(0);
  // --deployment D --host H is the host H of D, as --host D/H (refused before, issue 19).
  const both = await run(["pause", "--deployment", "fedi", "--host", "garage", "--reason", "x"]);
  expect(both).toMatchObject({ code: 0, stdout: "paused host/fedi/garage\n" });
  expect((await run(["pause", "--deployment", "fedi"])).code).toBe(64); // --reason is required
  const bad = await run(["pause", "--deployment", "fe;di", "--reason", "x"]);
  expect(bad.code).toBe(64);
  // The option the person typed, not the API's field.
  expect(bad.stderr).toContain("--host/--deployment: ");
  expect(bad.stderr).not.toContain("body.scope");
});

test("events prints a table", async () => {
  api.control.eventLog.push({
    time: Date.parse("2025-01-01T00:00:00Z"),
    kind: "detect",
    deployment: "fedi",
    host: "garage",
    reason: "unit0.service failed",
  });
  const r = await run(["events", "--deployment", "fedi", "--limit", "5", "-o", "wide"]);
  expect(r.stdout).toMatch(/^2025-01-01T00:00:00Z\s+detect\s+fedi\s+garage\s+unit0\.service failed\s*$/m);
  // People get relative ages.
  expect((await run(["events", "--deployment", "fedi"])).stdout).toMatch(/^\d+d\s+detect\s+fedi/m);
});

test("auth: --token-file beats NIXGUARD_TOKEN; a read token cannot pause (exit 1, 403); no token exits 1", async () => {
  const file = join(dir, "read");
  writeFileSync(file, `${READ}\n`, { mode: 0o600 });
  const r = await run(["pause", "--reason", "x", "--token-file", file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("403");
  expect((await run(["status", "--token-file", file])).code).toBe(0);
  // No token: a usage error before any request is sent (it sent one and printed the 401 before).
  const calls = api.control.calls.length;
  const none = await run(["status"], { NIXGUARD_TOKEN: undefined });
  expect(none.code).toBe(64);
  expect(none.stderr).toContain("no API token: set the environment variable NIXGUARD_TOKEN");
  expect(api.control.calls.length).toBe(calls);
  expect((await run(["status", "--token-file", join(dir, "absent")])).code).toBe(64);
});

test("an unreachable API exits 69 (closed loopback port); so does a 503", async () => {
  const port = await freePort();
  const down = await run(["status"], { NIXGUARD_URL: `http://127.0.0.1:${port}` });
  expect(down.code).toBe(69);
  expect(down.stderr).toContain("ECONNREFUSED");
  api.control.redisDown = true;
  try {
    expect((await run(["status"])).code).toBe(69);
  } finally {
    api.control.redisDown = false;
  }
});

test("generations HOST, rollback HOST [--to], release HOST", async () => {
  const path = (n: number) =>
    `/nix/store/${String(n).repeat(32)}-nixos-system-garage-25.05.2025060${n}.abc1234`;
  api.control.generationsOf.set("fedi/garage", {
    deployment: "fedi",
    host: "garage",
    current: path(1),
    generations: [
      { path: path(2), firstSeen: 3, since: 3, by: "other", verdict: "bad", reason: "garage.service" },
      { path: path(1), firstSeen: 1, since: 4, by: "nixguard", verdict: "good" },
    ],
    hold: {
      deployment: "fedi",
      host: "garage",
      bad: path(2),
      to: path(1),
      since: 5,
      reason: "garage.service",
      actor: "controller",
    },
  });
  const g = await run(["generations", "fedi/garage"]);
  expect(g.code).toBe(0);
  expect(g.stdout).toMatch(
    /^fedi\/garage HELD at nixos-system-garage-25\.05\.20250601\.abc1234 since .*: nixos-system-garage-25\.05\.20250602\.abc1234 broke garage\.service$/m,
  );
  expect(g.stdout).toMatch(/^\*\s+nixos-system-garage-25\.05\.20250601\.abc1234\s+\S+\s+nixguard\s+good/m);
  expect(g.stdout).toMatch(
    /^\s+nixos-system-garage-25\.05\.20250602\.abc1234\s+\S+\s+other\s+bad\s+garage\.service$/m,
  );
  const r = await run(["rollback", "garage", "--to", "1"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^rollback__fedi__garage: job \S+ added$/m);
  expect((await run(["rollback", "garage", "--to", "/etc/passwd"])).code).toBe(64); // 400: a usage error
  expect((await run(["release", "fedi/garage"])).stdout).toBe("released fedi/garage\n");
  expect((await run(["release", "fedi/garage"])).code).toBe(1);
  expect((await run(["generations", "a/b/c"])).code).toBe(64);
});

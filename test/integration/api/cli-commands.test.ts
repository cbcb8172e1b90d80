import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { completionScript } from "../../../src/cli/commands/completion.js";
import { registerClientCommands } from "../../../src/cli/index.js";
import { cliRunner } from "./cli-run.js";
import { type Listening, listen } from "./server.js";

let api: Listening;
const run = cliRunner(() => api);
const dir = mkdtempSync(join(tmpdir(), "nixguard-cli-cmd-"));
beforeAll(async () => {
  api = await listen();
});
afterEach(() => {
  api.control.pauses.length = 0;
  api.control.quarantined.clear();
  api.control.eventLog.length = 0;
  for (const h of ["garage", "mastodon"]) api.control.setHostState("fedi", h, "healthy");
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a job through the API as the CLI would see it, and returns its id. */
async function startedJob(): Promise<string> {
  const { jobId } = await api.control.redeploy("fedi", { actor: "t", force: true });
  api.control.startJob(jobId);
  return jobId;
}

describe("following a job exits with its outcome", () => {
  test.each([
    ["success", 0],
    ["failed", 1],
    ["cancelled", 3],
    ["timeout", 4],
  ] as const)("logs -f of a job that ends %s exits %i", async (outcome, code) => {
    const id = await startedJob();
    api.control.appendLog(id, "building", "stderr");
    const following = run(["logs", id, "-f"]);
    // Once the CLI follows, the log closes before the job has its outcome (the worker re-probes).
    const emitter = (api.control as unknown as { emitter: import("node:events").EventEmitter }).emitter;
    await expect.poll(() => emitter.listenerCount(`log:${id}`)).toBe(1);
    api.control.closeLog(id);
    api.control.finishJob(id, outcome);
    const r = await following;
    expect(r.code).toBe(code);
    expect(r.stderr).toContain("building\n");
    expect(r.stderr).toContain(`job ${id}: ${outcome === "success" ? "completed" : "failed"} (${outcome})`);
  });

  test("logs without -f prints what is stored; -o wide stamps each line with its time", async () => {
    const id = await startedJob();
    api.control.appendLog(id, "copying paths", "stdout");
    const plain = await run(["logs", id]);
    expect(plain).toMatchObject({ code: 0, stdout: "copying paths\n" });
    expect((await run(["logs", id, "-o", "wide"])).stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z copying paths$/m);
    api.control.finishJob(id, "success");
  });
});

test("jobs lists jobs with relative ages; --limit is checked by the CLI and named", async () => {
  const id = await startedJob();
  const r = await run(["jobs"]);
  expect(r.stdout.split("\n")[0]).toMatch(/^JOB\s+STATE\s+OUTCOME\s+AGE\s+DURATION\s+ACTOR$/);
  // AGE since it was asked for; DURATION stays empty (the fake does not stamp startedAt).
  expect(r.stdout).toMatch(new RegExp(`^${id}\\s+active\\s+\\d+s\\s+t$`, "m"));
  const calls = api.control.calls.length;
  const bad = await run(["jobs", "--limit", "lots"]);
  expect(bad.code).toBe(64);
  expect(bad.stderr).toContain('--limit takes a whole number from 1 to 1000 (got "lots")');
  expect(bad.stderr).not.toContain("querystring");
  expect(api.control.calls.length).toBe(calls); // refused before sending
  api.control.finishJob(id, "success");
});

test("status exits 2 while the fleet is unhealthy, naming why; 0 when healthy", async () => {
  expect((await run(["status"])).code).toBe(0);
  api.control.setHostState("fedi", "garage", "failing", "unit0.service");
  const r = await run(["status"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("unhealthy: 1 host(s) failing");
  expect(r.stdout).toMatch(/^hosts {8}healthy 1, degraded 0, failing 1/m);
});

test("deployments, probe, restart, reset and reload are CLI commands (no curl)", async () => {
  const deps = await run(["deployments"]);
  expect(deps.stdout).toMatch(/^NAME\s+HOSTS\s+FLAGS\s+LAST DEPLOY$/m);
  expect(deps.stdout).toMatch(/^fedi\s+2 healthy/m);

  const probe = await run(["probe", "fedi/garage"]);
  expect(probe.code).toBe(0);
  expect(probe.stdout).toMatch(/^fedi\/garage: reachable, probed \d+s ago in 12 ms$/m);
  expect(api.control.calls.at(-1)).toMatchObject({
    method: "probeHost",
    args: [{ host: "garage", deployment: "fedi" }],
  });

  const restart = await run(["restart", "garage", "unit0.service", "unit1.service", "--deployment", "fedi"]);
  expect(restart.code).toBe(0);
  expect(restart.stdout).toMatch(/^restart__fedi__garage: job \d+ (added|coalesced)$/m);
  expect((await run(["restart", "garage", "nosuch.service"])).code).toBe(1);

  api.control.quarantined.add("fedi/garage");
  expect((await run(["reset", "fedi/garage"])).stdout).toBe("reset fedi/garage: cleared quarantine\n");
  // Nothing there to reset: success, said plainly.
  const again = await run(["reset", "fedi/garage"]);
  expect(again).toMatchObject({ code: 0 });
  expect(again.stdout).toContain("nothing to clear");
  expect((await run(["reset"])).code).toBe(64);

  expect((await run(["reload"])).stdout).toBe("config reloaded: 1 deployment(s), 1 host(s)\n");
  api.control.reloadResult = {
    ok: false,
    issues: [{ path: "schedule[0].cron", message: "invalid cron expression" }],
  };
  try {
    const refused = await run(["reload"]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain("schedule[0].cron: invalid cron expression");
  } finally {
    api.control.reloadResult = { ok: true, deployments: 1, hosts: 1 };
  }
});

test("resume of what is not paused succeeds and says so", async () => {
  const r = await run(["resume", "--deployment", "fedi", "--reason", "done"]);
  expect(r).toMatchObject({ code: 0, stdout: "deployment/fedi was not paused: nothing to resume\n" });
});

test("events --host nosuch is a 404 error, as hosts --deployment nosuch", async () => {
  const r = await run(["events", "--host", "nosuch"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('404 unknown host "nosuch"');
  const d = await run(["events", "--deployment", "nosuch"]);
  expect(d.stderr).toContain('404 unknown deployment "nosuch"');
});

test("events -f prints events as they are recorded until interrupted", async () => {
  api.control.eventLog.push({
    id: "1-0",
    time: Date.now() - 1000,
    kind: "detect",
    deployment: "fedi",
    host: "garage",
  });
  const stop = new AbortController();
  const following = run(["events", "-f", "--interval", "1", "-o", "json"], {}, stop.signal);
  const time = Date.now();
  api.control.eventLog.push({ id: "2-0", time, kind: "action", deployment: "fedi", host: "garage" });
  api.control.eventLog.push({ id: "2-1", time, kind: "outcome", deployment: "fedi", host: "garage" });
  await expect
    .poll(() => api.control.calls.filter((c) => c.method === "events").length, { timeout: 10_000 })
    .toBeGreaterThan(2);
  stop.abort();
  const r = await following;
  expect(r.code).toBe(0);
  const kinds = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).kind);
  expect(kinds).toEqual(["detect", "action", "outcome"]);
});

test("--help names required options and the environment variables exactly", async () => {
  const help = (await run(["pause", "--help"])).stdout.replace(/\s+/g, " ");
  expect(help).toContain("--reason <text> why, recorded in the event (required)");
  expect(help).toContain("environment: NIXGUARD_URL");
  expect(help).toContain("the environment variable NIXGUARD_TOKEN holds the token itself");
});

test("completion: bash offers commands, their options and an option's values", () => {
  const program = new Command("nixguard");
  registerClientCommands(program, { stdout: () => {}, stderr: () => {}, env: {}, now: Date.now });
  const file = join(dir, "completion.bash");
  writeFileSync(file, completionScript(program, "bash"));
  const complete = (words: string[]) => {
    const script = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _nixguard; echo "\${COMPREPLY[*]}"`;
    const r = spawnSync("bash", ["--norc", "-c", script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    return r.stdout.trim().split(" ");
  };
  expect(complete(["nixguard", "st"])).toEqual(["status"]);
  expect(complete(["nixguard", "hosts", "--st"])).toEqual(["--state"]);
  expect(complete(["nixguard", "hosts", "--state", "f"])).toEqual(["failing"]);
  expect(complete(["nixguard", "logs", "7", "-"])).toContain("--follow");
});

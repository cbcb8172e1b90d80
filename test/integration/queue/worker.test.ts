import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CommandError, ProbeError } from "../../../src/errors.js";
import { LEFT_OUT } from "../../../src/nixops4/redact.js";
import { parseRecord } from "../../../src/queue/log-record.js";
import { type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig, RecordingTransport, type Rig } from "./harness.js";

let redis: TestRedis;
let rig: Rig | undefined;
let flakes: FakeFlake[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await rig?.close();
  for (const f of flakes) f.cleanup();
  rig = undefined;
  flakes = [];
  RecordingTransport.calls = [];
  RecordingTransport.fail = undefined;
});

async function setup(mode: Parameters<FakeFlake["control"]>[0]) {
  const f = makeFakeFlake();
  flakes.push(f);
  f.control(mode);
  rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir, hosts: ["web"] }]));
  return { f, r: rig };
}
const redeploy = {
  action: { kind: "redeploy" as const, deployment: "fedi", target: "fedi" },
  actor: "api:ops",
  reason: "manual",
};

async function runOne(r: Rig) {
  await r.startWorker();
  const res = await r.queue.enqueue(redeploy);
  expect(await waitFor(() => r.outcomes.length >= 1, 15_000)).toBe(true);
  return { jobId: res.jobId, outcome: r.outcomes[0]! };
}

const metric = async (r: Rig, name: string) =>
  (await r.metrics.registry.getSingleMetricAsString(name)).split("\n").filter((l) => !l.startsWith("#"));

describe("worker: redeploy", () => {
  it("runs `nixops4 apply --no-interactive [extraArgs] TARGET` in the flake dir, with a bounded env", async () => {
    const { f, r } = await setup({ mode: "success", progress: 3 });
    const { jobId, outcome } = await runOne(r);
    expect(outcome).toMatchObject({ outcome: "success", key: "redeploy__fedi", jobId, actor: "api:ops" });
    const start = f.calls().find((c) => c.event === "start")!;
    expect(start.argv).toEqual(["apply", "--no-interactive", "--show-trace", "--", "fedi"]);
    expect(start.cwd).toBe(f.dir);
    expect(start.stdinIsTTY).toBe(false);
    expect(Object.keys(start.env ?? {}).every((k) => /^(PATH|HOME|SSH_AUTH_SOCK|LANG|NIX_.*)$/.test(k))).toBe(
      true,
    );
    // Resource spans became job progress; the log holds stderr and NixGuard's own lines.
    const job = await r.queue.queue.getJob(jobId);
    expect(job?.progress).toEqual({ started: 3, finished: 3, running: [], message: "finished fedi.r2" });
    expect(job?.returnvalue).toMatchObject({ outcome: "success" });
    const log = await r.workers[0]!.logs.read(jobId);
    expect(log).toMatch(
      /^\d+ e .*INFO Applying composite:Applying resource\{resource=ComponentPath\(\["fedi", "r0"\]\)\}: nixops4::work: new$/m,
    );
    expect(log).toMatch(/^\d+ n \[nixguard\] progress: 3 resources applied \(fedi\.r2\)$/m);
    expect(log).toContain("outcome success");
    expect(await metric(r, "nixguard_actions_total")).toContain(
      'nixguard_actions_total{deployment="fedi",action="redeploy",outcome="success"} 1',
    );
    expect((await metric(r, "nixguard_last_deploy_success_timestamp_seconds"))[0]).toMatch(
      /deployment="fedi"} 1\d{9}/,
    );
    expect(await metric(r, "nixguard_deploy_duration_seconds")).toContain(
      'nixguard_deploy_duration_seconds_count{deployment="fedi",outcome="success"} 1',
    );
  });

  it("classifies exit 1 as failed with nixops4's error line", async () => {
    const { r } = await setup({ mode: "fail" });
    const { outcome } = await runOne(r);
    expect(outcome).toMatchObject({ outcome: "failed", exitCode: 1 });
    expect(outcome.message).toBe("nixops4 error: Failed to create stateless resource fedi");
  });

  // Issue 18 item 2: a child left holding stdout kept the pipes open, so the apply waited for its
  // timeout (holding the flake lock and a worker slot) and was reported as "timeout".
  it("a successful apply that leaves a straggler on its stdout is a success, at once", async () => {
    const { f, r } = await setup({ mode: "success", straggler: true });
    await r.startWorker();
    await r.queue.enqueue(redeploy);
    // The harness' nixops4.timeout is 20 s: an outcome before it is not a timeout's.
    expect(await waitFor(() => r.outcomes.length === 1, 15_000)).toBe(true);
    expect(r.outcomes[0]).toMatchObject({ outcome: "success", exitCode: 0 });
    expect(f.calls().some((c) => c.event === "straggler")).toBe(true);
    expect(await waitFor(() => f.liveProcesses().length === 0, 2_000)).toBe(true);
  });

  it("classifies exit 101 as panic", async () => {
    const { r } = await setup({ mode: "panic" });
    expect((await runOne(r)).outcome).toMatchObject({ outcome: "panic", exitCode: 101 });
  });

  it("nixops4 not on PATH → not-found with a clear message", async () => {
    const { r } = await setup({ mode: "success" });
    await r.startWorker({
      nixops4: {
        command: "nixops4-missing",
        timeout: 5_000,
        interruptGrace: 500,
        killGrace: 500,
        stragglerGrace: 200,
        extraArgs: [],
      },
    });
    await r.queue.enqueue(redeploy);
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("not-found");
    expect(r.outcomes[0]!.message).toMatch(
      /"nixops4-missing" is not on PATH; install nixops4 .* or set nixops4.command/,
    );
    expect(r.outcomes[0]!.message).not.toMatch(/ENOENT/);
  });

  it("a timed-out apply is terminated and leaves no process behind (/proc)", async () => {
    const { f, r } = await setup({ mode: "hang-ignore-term" });
    await r.startWorker({
      nixops4: {
        command: (await import("../../helpers/fake-nixops4.js")).FAKE_NIXOPS4,
        // Long enough for the fake (node) to have its signal handlers in place on a busy machine.
        timeout: 4_000,
        interruptGrace: 500,
        killGrace: 500,
        stragglerGrace: 200,
        extraArgs: [],
      },
    });
    await r.queue.enqueue(redeploy);
    expect(await waitFor(() => r.outcomes.length === 1, 20_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("timeout");
    expect(f.calls().some((c) => c.event === "sigint-ignored")).toBe(true);
    expect(f.calls().some((c) => c.event === "sigterm-ignored")).toBe(true);
    expect(f.liveProcesses()).toEqual([]);
    // The lock was released: the next run starts at once.
    f.control({ mode: "success" });
    await r.queue.enqueue(redeploy);
    expect(await waitFor(() => r.outcomes.length === 2, 10_000)).toBe(true);
    expect(r.outcomes[1]!.outcome).toBe("success");
  });

  it("a target no longer configured is cancelled without running nixops4", async () => {
    const { f, r } = await setup({ mode: "success" });
    await r.startWorker();
    await r.queue.enqueue({ ...redeploy, action: { ...redeploy.action, target: "gone" } });
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("cancelled");
    expect(f.calls()).toEqual([]);
  });

  it("a quarantine job is refused as unrecoverable", async () => {
    const { r } = await setup({ mode: "success" });
    await r.startWorker();
    // Bypass the producer's own check, as a hand-made job would.
    const job = await r.queue.queue.add("quarantine", {
      action: { kind: "quarantine", deployment: "fedi" },
      actor: "x",
      reason: "x",
      key: "quarantine__fedi",
      requestedAt: 0,
    });
    expect(await waitFor(async () => (await job.getState()) === "failed", 10_000)).toBe(true);
    const failed = await r.queue.queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/not a queued action/);
    expect(r.outcomes).toEqual([]);
  });

  it("close(grace): a running apply past the grace is terminated and its job goes back to the queue", async () => {
    const { f, r } = await setup({ mode: "hang" });
    const w = await r.startWorker();
    const { jobId } = await r.queue.enqueue(redeploy);
    expect(await waitFor(() => f.calls().some((c) => c.event === "grandchild"), 10_000)).toBe(true);
    const t0 = Date.now();
    await w.close(300);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(f.liveProcesses()).toEqual([]);
    expect(await r.queue.queue.getJobState(jobId)).toBe("waiting");
    expect(r.outcomes).toEqual([]);
    // Another worker takes it and finishes it.
    f.control({ mode: "success" });
    await r.startWorker();
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]).toMatchObject({ jobId, outcome: "success" });
    expect(await r.workers[1]!.logs.read(jobId)).toContain("terminated by shutdown");
  });

  it("close(grace) lets an apply that ends within the grace finish", async () => {
    const { r } = await setup({ mode: "success", durationMs: 600 });
    const w = await r.startWorker();
    await r.queue.enqueue(redeploy);
    await waitFor(async () => (await r.queue.counts()).active === 1, 5_000);
    await w.close(5_000);
    expect(r.outcomes.map((o) => o.outcome)).toEqual(["success"]);
  });

  it.each(["older", "newer"] as const)(
    "progress from the %s CLI's real output (its tracing on its own stream), each line's stream kept, resource values left out",
    async (cli) => {
      const { r } = await setup({ mode: "success", cli });
      const { jobId } = await runOne(r);
      const job = await r.queue.queue.getJob(jobId);
      const p = cli === "older" ? "" : "fediversity.";
      expect(job?.progress).toEqual({
        planned: 2,
        started: 2,
        finished: 2,
        running: [],
        message: `finished ${p}mastodon`,
      });
      const records = (await r.workers[0]!.logs.read(jobId))
        .trimEnd()
        .split("\n")
        .map((l) => parseRecord(l, 0));
      const tracing = records.filter((l) => l.text.includes("INFO Applying composite:Applying resource"));
      expect(tracing.length).toBeGreaterThan(0);
      expect(new Set(tracing.map((l) => l.stream))).toEqual(new Set([cli === "older" ? "stdout" : "stderr"]));
      expect(records.every((l) => l.time > 0)).toBe(true);
      const text = records.map((l) => l.text).join("\n");
      expect(text).toContain(`  - resource ${p}mastodon`);
      expect(text).toContain(`    - input args: ${LEFT_OUT}`);
      expect(text).not.toContain("SECRET");
    },
  );

  it("a nixops4 printing 100 MB keeps the log at its limit and RSS bounded", async () => {
    const { r } = await setup({ mode: "success", spamBytes: 100 * 1024 * 1024 });
    global.gc?.();
    const before = process.memoryUsage().rss;
    const { jobId } = await runOne(r);
    const grown = process.memoryUsage().rss - before;
    const log = await r.workers[0]!.logs.read(jobId);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(64 * 1024);
    expect(log).toContain("outcome success");
    expect(grown).toBeLessThan(80 * 1024 * 1024);
  });
});

describe("worker: restart", () => {
  const restart = {
    action: { kind: "restart" as const, deployment: "fedi", host: "web", units: ["mastodon-web.service"] },
    actor: "controller",
    reason: "unit failed",
  };

  it("restarts the units over the host's transport", async () => {
    const { r } = await setup({ mode: "success" });
    await r.startWorker();
    await r.queue.enqueue(restart);
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("success");
    expect(RecordingTransport.calls).toEqual([{ host: "web", units: ["mastodon-web.service"] }]);
  });

  it("classifies transport errors by code", async () => {
    const { r } = await setup({ mode: "success" });
    await r.startWorker();
    RecordingTransport.fail = new ProbeError("PROBE_UNREACHABLE", "ssh: connect timed out");
    await r.queue.enqueue(restart);
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("unreachable");
    RecordingTransport.fail = new CommandError("COMMAND_FAILED", "Job for x failed", {
      argv: ["systemctl"],
      exitCode: 1,
    });
    await waitFor(async () => !(await r.queue.isInFlight("restart__fedi__web")), 5_000);
    await r.queue.enqueue(restart);
    expect(await waitFor(() => r.outcomes.length === 2, 10_000)).toBe(true);
    expect(r.outcomes[1]).toMatchObject({ outcome: "failed", exitCode: 1 });
  });

  it("refuses unit names outside systemd's grammar", async () => {
    const { r } = await setup({ mode: "success" });
    await r.startWorker();
    await r.queue.enqueue({ ...restart, action: { ...restart.action, units: ["x; reboot"] } });
    expect(await waitFor(() => r.outcomes.length === 1, 10_000)).toBe(true);
    expect(r.outcomes[0]!.outcome).toBe("failed");
    expect(RecordingTransport.calls).toEqual([]);
  });
});

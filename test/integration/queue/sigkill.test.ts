import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionOutcome } from "../../../src/action.js";
import { makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { desired, makeRig } from "./harness.js";

const here = dirname(fileURLToPath(import.meta.url));
let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

interface WorkerProc {
  child: ChildProcess;
  outcomes: ActionOutcome[];
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function spawnWorker(prefix: string, flake: string): WorkerProc {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(here, "worker-process.ts"), redis.url, prefix, flake],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const outcomes: ActionOutcome[] = [];
  let buf = "";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    markReady = r;
  });
  child.stdout?.on("data", (b: Buffer) => {
    buf += b.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    for (const l of lines) {
      if (l === "ready") markReady();
      if (l.startsWith("outcome ")) outcomes.push(JSON.parse(l.slice(8)) as ActionOutcome);
    }
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, outcomes, ready, exited };
}

describe("worker process killed with SIGKILL during an apply", () => {
  it("leaves no nixops4 running after 5 s, and a second worker process retries the job exactly once", async () => {
    const f = makeFakeFlake("sigkill");
    const rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir }]));
    const procs: WorkerProc[] = [];
    try {
      f.control({ mode: "hang-ignore-term" });
      const a = spawnWorker(rig.prefix, f.dir);
      procs.push(a);
      await a.ready;
      const { jobId } = await rig.queue.enqueue({
        action: { kind: "redeploy", deployment: "fedi", target: "fedi" },
        actor: "test",
        reason: "sigkill",
      });
      expect(await waitFor(() => f.calls().some((c) => c.event === "grandchild"), 15_000)).toBe(true);
      expect(f.liveProcesses().length).toBeGreaterThanOrEqual(3); // guard, nixops4, its child
      f.control({ mode: "success" }); // what the retry will see

      const killedAt = Date.now();
      a.child.kill("SIGKILL");
      await a.exited;
      // The fake ignores SIGTERM; the guard's SIGKILL after the 1 s grace must still end it all.
      expect(await waitFor(() => f.liveProcesses().length === 0, 5_000)).toBe(true);
      expect(Date.now() - killedAt).toBeLessThan(5_000);

      const b = spawnWorker(rig.prefix, f.dir);
      procs.push(b);
      await b.ready;
      expect(await waitFor(() => b.outcomes.length >= 1, 20_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 1_500)); // any duplicate run would show by now
      expect(b.outcomes).toHaveLength(1);
      expect(b.outcomes[0]).toMatchObject({ jobId, outcome: "success" });
      expect(f.calls().filter((c) => c.event === "start")).toHaveLength(2); // the killed run and the retry
      const job = await rig.queue.queue.getJob(jobId);
      expect(job?.finishedOn).toBeDefined();
      expect(await rig.queue.queue.getJobState(jobId)).toBe("completed");

      b.child.kill("SIGTERM");
      expect(await b.exited).toBe(0);
    } finally {
      for (const p of procs) p.child.kill("SIGKILL");
      await rig.close();
      f.cleanup();
    }
  });
});

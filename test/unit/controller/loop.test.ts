import { afterEach, describe, expect, it } from "vitest";
import { ReconcileLoop } from "../../../src/controller/loop.js";
import { NixGuardError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/log.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let loops: ReconcileLoop[] = [];
afterEach(async () => {
  await Promise.all(loops.map((l) => l.stop()));
  loops = [];
});

function loop(reconcile: (d: string) => Promise<{ requeueAfterMs?: number }>, extra = {}) {
  const l = new ReconcileLoop({
    reconcile,
    resyncMs: () => 60_000,
    logger: silentLogger(),
    concurrency: 3,
    errorDelayMs: 30,
    ...extra,
  });
  loops.push(l);
  return l;
}

describe("reconcile loop", () => {
  it("coalesces wake-ups and never runs one deployment twice at once; a wake during a pass runs once more", async () => {
    const calls: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const l = loop(async (d) => {
      calls.push(d);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(50);
      running--;
      return {};
    });
    l.start(["fedi"]);
    await sleep(10); // first pass running
    for (let i = 0; i < 50; i++) l.wake("fedi");
    await sleep(200);
    expect(calls).toEqual(["fedi", "fedi"]);
    expect(maxRunning).toBe(1);
  });

  it("runs different deployments in parallel", async () => {
    const started: number[] = [];
    const l = loop(async () => {
      started.push(Date.now());
      await sleep(100);
      return {};
    });
    l.start(["a", "b", "c"]);
    await sleep(50);
    expect(started).toHaveLength(3);
  });

  it("honours requeueAfterMs and retries errors with growing delays; forgets NOT_FOUND", async () => {
    const times: Record<string, number[]> = { soon: [], broken: [], gone: [] };
    const t0 = Date.now();
    const l = loop(async (d) => {
      times[d]?.push(Date.now() - t0);
      if (d === "soon") return { requeueAfterMs: 40 };
      if (d === "gone") throw new NixGuardError("NOT_FOUND", "unknown deployment");
      throw new Error("redis down");
    });
    l.start(["soon", "broken", "gone"]);
    await sleep(400);
    expect(times["soon"]?.length).toBeGreaterThanOrEqual(4);
    // errors: immediately, +30, +60, +120 ms …
    const b = times["broken"] ?? [];
    expect(b.length).toBeGreaterThanOrEqual(3);
    expect(b.length).toBeLessThanOrEqual(5);
    expect((b[2] ?? 0) - (b[1] ?? 0)).toBeGreaterThan((b[1] ?? 0) - (b[0] ?? 0));
    expect(times["gone"]).toHaveLength(1);
  });

  it("plans nothing when not the leader, and nothing after stop", async () => {
    let leader = false;
    let passes = 0;
    const l = loop(
      async () => {
        passes++;
        return { requeueAfterMs: 10 };
      },
      { isLeader: () => leader },
    );
    l.start(["fedi"]);
    await sleep(30);
    expect(passes).toBe(0);
    leader = true;
    l.wake("fedi");
    await sleep(30);
    expect(passes).toBeGreaterThan(0);
    await l.stop();
    const at = passes;
    l.wake("fedi");
    await sleep(40);
    expect(passes).toBe(at);
  });
});

import { describe, expect, it } from "vitest";
import { EventLog } from "../../../src/controller/events.js";
import type { NixGuardEvent } from "../../../src/controller/types.js";
import { useRedis } from "./harness.js";

const env = useRedis();

describe("event log", () => {
  it("appends every field, reads back oldest first, filters by deployment, host and time", async () => {
    const log = new EventLog(env.redis(), "ev1");
    const heard: NixGuardEvent[] = [];
    log.subscribe((e) => heard.push(e));
    const full: NixGuardEvent = {
      time: 1_000,
      kind: "outcome",
      deployment: "fedi",
      host: "a",
      action: "restart",
      reason: "a.service failing",
      outcome: "success",
      jobId: "restart__fedi__a",
      actor: "controller",
    };
    await log.append(full);
    await log.append({ time: 2_000, kind: "blocked", deployment: "fedi", host: "b", reason: "paused: x" });
    await log.append({ time: 3_000, kind: "breaker", outcome: "open" });
    await log.append({ time: 4_000, kind: "action", deployment: "other", host: "a" });

    const all = await log.list();
    expect(all.map((e) => e.time)).toEqual([1_000, 2_000, 3_000, 4_000]);
    const { id, ...first } = all[0]!;
    expect(first).toEqual(full);
    expect(id).toMatch(/^\d+-\d+$/);
    expect(heard.map((e) => e.kind)).toEqual(["outcome", "blocked", "breaker", "action"]);

    expect((await log.list({ deployment: "fedi" })).map((e) => e.time)).toEqual([1_000, 2_000]);
    expect((await log.list({ host: "a" })).map((e) => e.time)).toEqual([1_000, 4_000]);
    expect((await log.list({ since: 2_000 })).map((e) => e.time)).toEqual([2_000, 3_000, 4_000]);
    expect((await log.list({ limit: 2 })).map((e) => e.time)).toEqual([3_000, 4_000]);
  });

  it("is capped, and pages through more entries than one read returns", async () => {
    const log = new EventLog(env.redis(), "ev2", { maxLen: 1_000 });
    const pipe = [];
    for (let i = 0; i < 3_000; i++)
      pipe.push(log.append({ time: i, kind: "detect", host: i % 2 ? "odd" : "even" }));
    await Promise.all(pipe);
    const len = await env.redis().xlen("ev2:events");
    expect(len).toBeGreaterThanOrEqual(1_000);
    expect(len).toBeLessThan(1_300); // ~ trims whole macro nodes
    const odd = await log.list({ host: "odd", limit: 600 });
    expect(odd).toHaveLength(Math.min(600, Math.floor(len / 2)));
    expect(odd.at(-1)?.time).toBe(2_999);
    expect(odd.every((e) => e.host === "odd")).toBe(true);
  });
});

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobLogStore, JobLogWriter } from "../../../src/queue/job-log.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { freshPrefix } from "./harness.js";

let redis: TestRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe("JobLogStore", () => {
  it("keeps the last limitBytes, in Redis memory too", async () => {
    const store = new JobLogStore(client, freshPrefix(), { limitBytes: 1000 });
    for (let i = 0; i < 100; i++)
      await store.append("j1", `${String(i).padStart(3, "0")}${"x".repeat(96)}\n`);
    const text = await store.read("j1");
    expect(text.length).toBe(1000);
    expect(text.endsWith(`099${"x".repeat(96)}\n`)).toBe(true);
    expect(text.startsWith(`090`)).toBe(true);
    const stored = await client.strlen(`${(store as unknown as { prefix: string }).prefix}:job-log:j1`);
    expect(stored).toBeLessThanOrEqual(1250);
  });

  it("follow delivers everything appended, in order, and ends when the log is closed", async () => {
    const store = new JobLogStore(client, freshPrefix(), { limitBytes: 1 << 20, pollMs: 20 });
    let got = "";
    const ac = new AbortController();
    const following = store.follow(
      "j2",
      (s) => {
        got += s;
      },
      ac.signal,
    );
    const want: string[] = [];
    for (let i = 0; i < 20; i++) {
      const line = `line ${i} é\n`;
      want.push(line);
      await store.append("j2", line);
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    await store.close("j2");
    await following;
    expect(got).toBe(want.join(""));
    expect(await store.isClosed("j2")).toBe(true);
  });

  it("follow resumes at the kept start when trimming overtook it, and stops on abort", async () => {
    const store = new JobLogStore(client, freshPrefix(), { limitBytes: 100, pollMs: 20 });
    await store.append("j3", "a".repeat(300));
    let got = "";
    const ac = new AbortController();
    const following = store.follow(
      "j3",
      (s) => {
        got += s;
      },
      ac.signal,
    );
    await new Promise((r) => setTimeout(r, 60));
    ac.abort();
    await following;
    expect(got).toBe("a".repeat(100));
  });

  it("the writer batches appends and bounds what it holds", async () => {
    const store = new JobLogStore(client, freshPrefix(), { limitBytes: 1024 });
    const w = new JobLogWriter(
      store,
      "j4",
      (e) => {
        throw e;
      },
      50,
    );
    for (let i = 0; i < 10_000; i++) w.write(Buffer.from(`${i}\n`));
    await w.end(true);
    const text = await store.read("j4");
    expect(text.endsWith("9999\n")).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1024);
    expect(await store.isClosed("j4")).toBe(true);
  });
});

/**
 * The producer reads two of BullMQ's private structures (src/queue/producer.ts): the
 * deduplication hash `<prefix>:<queue>:dn:<key>` whose `jid` names the follow-up stored behind a
 * running job, and the job hash `<prefix>:<queue>:<id>`. So BullMQ is pinned to the exact version
 * read, and this test fails when an upgrade moves either (issue 18, item 9).
 */
import { readFileSync } from "node:fs";
import { Queue, Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.js";
import { BullActionQueue } from "../../../src/queue/producer.js";
import { createRedis } from "../../../src/redis/connection.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

const root = new URL("../../../", import.meta.url);
const json = (path: string) => JSON.parse(readFileSync(new URL(path, root), "utf8"));

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe("BullMQ internals the producer reads", () => {
  it("package.json pins bullmq to the exact version installed and locked", () => {
    const wanted = json("package.json").dependencies.bullmq as string;
    const installed = json("node_modules/bullmq/package.json").version as string;
    const locked = json("package-lock.json").packages["node_modules/bullmq"].version as string;
    expect(wanted).toMatch(/^\d+\.\d+\.\d+$/);
    expect([wanted, locked]).toEqual([installed, installed]);
  });

  it("a request while its key's job runs is stored in dn:<key> (jid) and becomes the job hash when the run ends", async () => {
    const prefix = `internals${Date.now()}`;
    const logger = silentLogger();
    const producer = new BullActionQueue({ connection: redis.url, prefix, logger, queueName: "actions" });
    const client = createRedis(redis.url, { role: "client", logger });
    const blocking = createRedis(redis.url, { role: "worker", logger });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const worker = new Worker(
      "actions",
      async () => {
        started();
        await held;
      },
      { connection: blocking, prefix },
    );
    const action = { kind: "redeploy" as const, deployment: "fedi", target: "fedi" };
    try {
      const first = await producer.enqueue({ action, actor: "t", reason: "first" });
      await running;
      const next = await producer.enqueue({ action, actor: "t", reason: "second" });
      expect(next.state).toBe("rerun-scheduled");
      expect(await client.hget(`${prefix}:actions:dn:redeploy__fedi`, "jid")).toBe(next.jobId);
      expect(await client.exists(`${prefix}:actions:${next.jobId}`)).toBe(0);
      expect(await client.exists(`${prefix}:actions:${first.jobId}`)).toBe(1);
      release();
      const q = new Queue("actions", { connection: client, prefix });
      const end = Date.now() + 10_000;
      while ((await client.exists(`${prefix}:actions:${next.jobId}`)) === 0 && Date.now() < end)
        await new Promise((r) => setTimeout(r, 20));
      expect(await client.exists(`${prefix}:actions:${next.jobId}`)).toBe(1);
      expect((await q.getJob(next.jobId))?.data.reason).toBe("second");
      await q.close();
    } finally {
      release();
      await worker.close();
      await producer.close();
      blocking.disconnect();
      client.disconnect();
    }
  });
});

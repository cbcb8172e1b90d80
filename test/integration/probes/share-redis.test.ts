import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.js";
import { Membership, membersKey, readMembership } from "../../../src/probes/share/membership.js";
import {
  ObservationPublisher,
  ObservationReader,
  observationsKey,
  type StreamedObservation,
} from "../../../src/probes/share/observation-stream.js";
import { liveMembers } from "../../../src/probes/share/share.js";
import type { HostObservation } from "../../../src/probes/types.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

/** The membership and the observation stream against a real redis-server. */
let redis: TestRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url);
});
afterAll(async () => {
  conn.disconnect();
  await redis.stop();
});

const info = { pid: 1, hostname: "test", roles: ["probe"], startedAt: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("membership in Redis", () => {
  it("heartbeats on Redis' clock, shows who is alive, forgets a member that leaves at once", async () => {
    const prefix = "m1";
    const a = new Membership({ redis: conn, prefix, id: "a", info, deadAfterMs: 300 });
    const b = new Membership({ redis: conn, prefix, id: "b", info: { ...info, pid: 2 }, deadAfterMs: 300 });
    await a.heartbeat();
    const view = await b.heartbeat();
    expect(liveMembers(view.members, view.at, 300)).toEqual(["a", "b"]);
    // Redis' clock, not ours: the view's time is the server's TIME.
    const [sec] = await conn.time();
    expect(Math.abs(view.at - Number(sec) * 1000)).toBeLessThan(2_000);

    // a goes silent: dead to b after deadAfter, still listed (status shows the recently dead).
    await sleep(400);
    const later = await b.heartbeat();
    expect(liveMembers(later.members, later.at, 300)).toEqual(["b"]);
    expect(later.members.map((m) => m.id).sort()).toEqual(["a", "b"]);
    const read = await readMembership(conn, prefix);
    expect(read.info["b"]?.pid).toBe(2);

    await b.leave();
    expect(await conn.zrange(membersKey(prefix), 0, -1)).toEqual(["a"]);
  });

  it("a member dead for ten deadAfter periods is swept by any heartbeat", async () => {
    const prefix = "m2";
    const a = new Membership({ redis: conn, prefix, id: "a", info, deadAfterMs: 20 });
    const b = new Membership({ redis: conn, prefix, id: "b", info, deadAfterMs: 20 });
    await a.heartbeat();
    await sleep(250);
    const view = await b.heartbeat();
    expect(view.members.map((m) => m.id)).toEqual(["b"]);
    expect(Object.keys((await readMembership(conn, prefix)).info)).toEqual(["b"]);
  });
});

describe("the observation stream", () => {
  it("publishes in batches, capped; the reader gets every entry from where it starts, and stops at once", async () => {
    const prefix = "s1";
    const published: number[] = [];
    const pub = new ObservationPublisher({
      redis: conn,
      prefix,
      prober: "p1",
      maxLen: 1000,
      logger: silentLogger(),
      onPublished: (n) => published.push(n),
    });
    const obs = (host: string, at: number): HostObservation => ({
      deployment: "d",
      host,
      at,
      durationMs: 1,
      reachable: true,
      http: [],
    });
    const startedAt = Date.now();
    for (let i = 0; i < 50; i++) pub.publish(`d/h${i}`, "f", obs(`h${i}`, startedAt + i));
    await pub.flush();
    // One batch, one pipeline.
    expect(published).toEqual([50]);

    const reader = new Redis(redis.url, { maxRetriesPerRequest: null });
    const got: StreamedObservation[] = [];
    const r = new ObservationReader({
      connection: reader,
      prefix,
      fromMs: startedAt - 1_000,
      blockMs: 5_000,
      batch: 20,
      logger: silentLogger(),
      onEntries: (e) => got.push(...e),
    });
    r.start();
    for (let i = 0; i < 200 && got.length < 50; i++) await sleep(20);
    expect(got.length).toBe(50);
    expect(got[0]).toMatchObject({ key: "d/h0", prober: "p1", at: startedAt, fingerprint: "f" });
    expect(JSON.parse(got[49]?.text ?? "{}")).toMatchObject({ host: "h49" });
    // New entries reach the blocked reader.
    pub.publish("d/late", "f", obs("late", startedAt + 100));
    await pub.flush();
    for (let i = 0; i < 200 && got.length < 51; i++) await sleep(20);
    expect(got.at(-1)?.key).toBe("d/late");
    const t0 = Date.now();
    await r.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);

    // Capped: MAXLEN ~ keeps about maxLen (whole nodes trimmed).
    for (let i = 0; i < 3000; i++) pub.publish("d/h", "f", obs("h", startedAt));
    await pub.flush();
    expect(await conn.xlen(observationsKey(prefix))).toBeLessThan(1300);
  });
});

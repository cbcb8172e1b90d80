import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { Pause } from "../../../src/controller/policy/types.js";
import { PolicyMirror, type PolicyRecords } from "../../../src/controller/policy-mirror.js";
import { StateStore } from "../../../src/controller/state-store.js";
import { fleetConfig } from "../../unit/controller/fixtures.js";
import { useRedis } from "./harness.js";

const env = useRedis();
const spec = fleetConfig().desired.deployments[0]!;
let seq = 0;
const opened: Redis[] = [];
const mirrors: PolicyMirror[] = [];

afterEach(() => {
  for (const m of mirrors.splice(0)) m.close();
  for (const r of opened.splice(0)) r.disconnect();
});

const pause = (host: string, reason = "test"): Pause => ({
  scope: { kind: "host", host, deployment: "fedi" },
  reason,
  actor: "test",
  since: 1,
});

async function until(pred: () => Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A store whose policy reads are mirrored through a subscriber connection of its own. */
async function mirrored(prefix: string) {
  // No automatic reconnect: the test decides when the subscriber comes back.
  const sub = new Redis(env.server().url, {
    autoResubscribe: false,
    connectionName: `policy-sub-${prefix}`,
    retryStrategy: () => null,
  });
  opened.push(sub);
  const store = new StateStore(env.redis(), prefix);
  const mirror = store.mirrorPolicy(sub);
  mirrors.push(mirror);
  await until(async () => mirror.mirrored);
  return { store, mirror, sub };
}

describe("policy mirror", () => {
  it("reads pauses, quarantines and drift in one go, as stored", async () => {
    const store = new StateStore(env.redis(), `pm-${++seq}`);
    await store.setPause(pause("a"));
    await store.setQuarantine({ deployment: "fedi", host: "b", since: 2, until: 9, reason: "flapping" });
    await store.setDrift("fedi", "c", 3);
    const r = await store.policyRecords();
    expect(r.pauses).toEqual([pause("a")]);
    expect(r.quarantines).toEqual([
      { deployment: "fedi", host: "b", since: 2, until: 9, reason: "flapping" },
    ]);
    expect(r.drift).toEqual({ "fedi/c": 3 });
  });

  it("serves reads from memory: an edit nobody announced is not seen until a write invalidates", async () => {
    const prefix = `pm-${++seq}`;
    const { store } = await mirrored(prefix);
    expect((await store.policyRecords()).pauses).toEqual([]);
    // Behind NixGuard's back (no announcement): the mirrored copy does not see it...
    await env.redis().hset(`${prefix}:ctl:pauses`, "host:fedi/z", JSON.stringify(pause("z")));
    expect((await store.policyRecords()).pauses).toEqual([]);
    // ...until any announced write drops the copy.
    await store.setDrift("fedi", "a", 5);
    const r = await store.policyRecords();
    expect(r.pauses).toEqual([pause("z")]);
    expect(r.drift).toEqual({ "fedi/a": 5 });
  });

  it("sees this process's own write as soon as the write returns, whenever the notice arrives", async () => {
    const { store, sub } = await mirrored(`pm-${++seq}`);
    expect((await store.policyRecords()).pauses).toEqual([]);
    // The subscriber reads nothing while paused: notices queue up unread, as on a slow link, so
    // only the store's own invalidation can make the writes below visible.
    const stream = (sub as unknown as { stream: { pause(): void; resume(): void } }).stream;
    stream.pause();
    await store.setPause(pause("a"));
    expect((await store.policyRecords()).pauses).toEqual([pause("a")]);
    await store.removePause(pause("a").scope);
    expect((await store.policyRecords()).pauses).toEqual([]);
    await store.setQuarantine({ deployment: "fedi", since: 2, until: 9, reason: "r" });
    expect((await store.policyRecords()).quarantines).toHaveLength(1);
    expect(await store.reset(spec)).toEqual(["quarantine"]);
    expect((await store.policyRecords()).quarantines).toEqual([]);
    await store.setDrift("fedi", "b", 9);
    expect((await store.policyRecords()).drift).toEqual({ "fedi/b": 9 });
    await store.setDrift("fedi", "b", undefined);
    expect((await store.policyRecords()).drift).toEqual({});
    stream.resume();
  });

  it("never keeps a read that was under way when the records changed", async () => {
    const sub = new Redis(env.server().url, { autoResubscribe: false });
    opened.push(sub);
    let fetches = 0;
    const answers: ((r: PolicyRecords) => void)[] = [];
    const mirror = new PolicyMirror({
      fetch: () => {
        fetches++;
        return new Promise((resolve) => answers.push(resolve));
      },
      subscriber: sub,
      channel: `pm-${++seq}:chan`,
    });
    mirrors.push(mirror);
    await until(async () => mirror.mirrored);
    const old: PolicyRecords = { pauses: [pause("old")], quarantines: [], drift: {} };
    const first = mirror.read();
    const joined = mirror.read(); // shares the fetch under way
    expect(fetches).toBe(1);
    mirror.invalidate(); // a write landed while that fetch was out
    answers[0]?.(old);
    expect((await first).pauses).toEqual([pause("old")]);
    expect((await joined).pauses).toEqual([pause("old")]);
    // Its answer was handed to the readers that asked before the write, but not kept.
    const next = mirror.read();
    expect(fetches).toBe(2);
    answers[1]?.({ pauses: [], quarantines: [], drift: {} });
    expect((await next).pauses).toEqual([]);
    // This one was not overtaken, so it is kept: no third fetch.
    expect((await mirror.read()).pauses).toEqual([]);
    expect(fetches).toBe(2);
  });

  it("sees another process's write through the announcement", async () => {
    const prefix = `pm-${++seq}`;
    const { store } = await mirrored(prefix);
    expect((await store.policyRecords()).quarantines).toEqual([]);
    const other = new Redis(env.server().url);
    opened.push(other);
    await new StateStore(other, prefix).setQuarantine({
      deployment: "fedi",
      host: "d",
      since: 7,
      until: 9,
      reason: "r",
    });
    await until(async () => (await store.policyRecords()).quarantines.length === 1);
    // Another prefix's announcement is not ours and does not count.
    await new StateStore(other, `${prefix}-x`).setPause(pause("q"));
    await env.redis().hset(`${prefix}:ctl:pauses`, "host:fedi/z", JSON.stringify(pause("z")));
    await new Promise((r) => setTimeout(r, 100));
    expect((await store.policyRecords()).pauses).toEqual([]);
  });

  it("reads Redis directly while the subscription is down, and mirrors again once it is back", async () => {
    const prefix = `pm-${++seq}`;
    const { store, mirror, sub } = await mirrored(prefix);
    await store.policyRecords();
    // Drop the subscriber's connection from the server side.
    const list = (await env.redis().client("LIST")) as string;
    const id = list
      .split("\n")
      .find((l) => l.includes(` name=policy-sub-${prefix} `))
      ?.match(/^id=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await env.redis().client("KILL", "ID", String(id));
    await until(async () => sub.status === "end", 2_000);
    expect(mirror.mirrored).toBe(false);
    // Not announced, yet seen: nothing is served from memory while a notice could be missed.
    await env.redis().hset(`${prefix}:ctl:pauses`, "host:fedi/z", JSON.stringify(pause("z")));
    expect((await store.policyRecords()).pauses).toEqual([pause("z")]);
    await sub.connect();
    await until(async () => mirror.mirrored, 5_000);
    expect((await store.policyRecords()).pauses).toEqual([pause("z")]);
    // Subscribed again: another process's write reaches it.
    const other = new Redis(env.server().url);
    opened.push(other);
    await new StateStore(other, prefix).setDrift("fedi", "e", 1);
    await until(async () => Object.hasOwn((await store.policyRecords()).drift, "fedi/e"));
  });

  it("hands out frozen records, so no reader can change another's copy", async () => {
    const { store } = await mirrored(`pm-${++seq}`);
    await store.setPause(pause("a"));
    const r = await store.policyRecords();
    expect(Object.isFrozen(r.pauses)).toBe(true);
    expect(Object.isFrozen(r.pauses[0])).toBe(true);
    expect(Object.isFrozen(r.pauses[0]?.scope)).toBe(true);
    expect(Object.isFrozen(r.drift)).toBe(true);
  });

  it("under a Redis user without channel rights: writes still land, and reads go to Redis", async () => {
    const prefix = `pm-${++seq}`;
    const user = `nochan${seq}`;
    // Redis 7's default for a new ACL user: every key and command, no pub/sub channel.
    await env.redis().acl("SETUSER", user, "on", ">pw", "~*", "+@all", "resetchannels");
    const url = new URL(env.server().url);
    const limited = new Redis({ host: url.hostname, port: Number(url.port), username: user, password: "pw" });
    const sub = new Redis({
      host: url.hostname,
      port: Number(url.port),
      username: user,
      password: "pw",
      autoResubscribe: false,
    });
    opened.push(limited, sub);
    const store = new StateStore(limited, prefix);
    const mirror = store.mirrorPolicy(sub);
    mirrors.push(mirror);
    await store.setPause(pause("a"));
    expect((await store.policyRecords()).pauses).toEqual([pause("a")]);
    expect(mirror.mirrored).toBe(false);
    // Not announced, and still seen: nothing is served from memory without a subscription.
    await env.redis().hset(`${prefix}:ctl:pauses`, "host:fedi/z", JSON.stringify(pause("z")));
    expect((await store.policyRecords()).pauses).toHaveLength(2);
    await env.redis().acl("DELUSER", user);
  });
});

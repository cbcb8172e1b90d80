import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostPort } from "../../../src/config/grammar.js";
import { parseConfig } from "../../../src/config/load.js";
import {
  createRedis,
  describeRedisTarget,
  roleOptions,
  targetOptions,
} from "../../../src/redis/connection.js";
import { parseHostPort, readSecretFile, redisTargetFromConfig } from "../../../src/redis/target.js";
import { issuesOf } from "../../helpers/config-issues.js";

const base = (redis: unknown) => ({
  redis,
  deployments: { web: { flake: "/var/lib/deploy", hosts: { web1: { address: "10.0.0.1" } } } },
});

const dir = mkdtempSync(join(tmpdir(), "nixguard-sentinel-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("redis.sentinels in the config", () => {
  it("takes addresses, the master's name and password files", () => {
    const { config } = parseConfig(
      base({
        sentinels: {
          addresses: ["10.0.0.5:26379", "redis-b.internal:26380", "[fd00::7]:26379"],
          masterName: "nixguard",
          passwordFile: "/run/secrets/redis",
        },
      }),
    );
    expect(config.redis.sentinels).toEqual({
      addresses: ["10.0.0.5:26379", "redis-b.internal:26380", "[fd00::7]:26379"],
      masterName: "nixguard",
      passwordFile: "/run/secrets/redis",
      db: 0,
    });
    expect(config.redis.url).toBeUndefined();
  });

  it("refuses redis.url together with redis.sentinels, with one clear issue", () => {
    const issues = issuesOf(
      base({
        url: "redis://:hunter2@10.0.0.5:6379",
        sentinels: { addresses: ["10.0.0.5:26379"], masterName: "m" },
      }),
    );
    expect(issues).toEqual([
      { path: "redis.sentinels", message: expect.stringMatching(/redis\.url .*or redis\.sentinels/) },
    ]);
    expect(JSON.stringify(issues)).not.toContain("hunter2");
  });

  it.each([
    [[], "redis.sentinels.addresses"],
    [["10.0.0.5"], "redis.sentinels.addresses[0]"],
    [["10.0.0.5:0"], "redis.sentinels.addresses[0]"],
    [["-oProxy:26379"], "redis.sentinels.addresses[0]"],
    [["fd00::7:26379"], "redis.sentinels.addresses[0]"],
  ])("refuses addresses %j", (addresses, path) => {
    expect(issuesOf(base({ sentinels: { addresses, masterName: "m" } })).map((i) => i.path)).toEqual([path]);
  });

  it("needs the master's name", () => {
    expect(issuesOf(base({ sentinels: { addresses: ["h:1"] } })).map((i) => i.path)).toEqual([
      "redis.sentinels.masterName",
    ]);
  });
});

describe("hostPort grammar", () => {
  it.each(["127.0.0.1:26379", "a.b:1", "[::1]:65535"])("accepts %s", (v) =>
    expect(hostPort(v)).toBeUndefined(),
  );
  it.each(["h", "h:", ":1", "h:65536", "[h]:1", "a b:1", "h:1\n"])("refuses %j", (v) =>
    expect(hostPort(v)).toBeTypeOf("string"),
  );
  it("splits what it accepts", () => {
    expect(parseHostPort("[::1]:26379")).toEqual({ host: "::1", port: 26379 });
    expect(parseHostPort("redis.internal:1")).toEqual({ host: "redis.internal", port: 1 });
  });
});

describe("the Sentinel target", () => {
  it("reads the passwords from their files, without the last newline", () => {
    const pw = join(dir, "pw");
    const spw = join(dir, "spw");
    writeFileSync(pw, "s3cret\n", { mode: 0o600 });
    writeFileSync(spw, "sentinel-s3cret", { mode: 0o600 });
    const { config } = parseConfig(
      base({
        sentinels: {
          addresses: ["127.0.0.1:26379"],
          masterName: "m",
          passwordFile: pw,
          sentinelPasswordFile: spw,
          db: 2,
        },
      }),
    );
    const t = redisTargetFromConfig(config.redis);
    expect(t).toEqual({
      kind: "sentinel",
      sentinels: [{ host: "127.0.0.1", port: 26379 }],
      masterName: "m",
      db: 2,
      password: "s3cret",
      sentinelPassword: "sentinel-s3cret",
    });
    // What is logged names the master and the Sentinels, never a password.
    expect(describeRedisTarget(t!)).toBe('sentinel master "m" via 127.0.0.1:26379');
    const o = targetOptions(t!);
    expect(o).toMatchObject({
      name: "m",
      role: "master",
      db: 2,
      password: "s3cret",
      sentinelPassword: "sentinel-s3cret",
    });
    // Reconnects at least every second behind Sentinel, whichever role (it wins over the role's).
    for (const retry of [o.sentinelRetryStrategy, o.retryStrategy] as ((n: number) => number)[])
      for (const times of [1, 10, 1_000]) expect(retry(times)).toBeLessThanOrEqual(1_200);
    // Off: its disconnect during a reconnect ends the connection for good (see sentinelOptions).
    expect(o.failoverDetector).toBeUndefined();
    // BullMQ's settings hold for Sentinel connections too: made with the same role options.
    // createRedis applies the target's options over the role's: BullMQ's settings survive it.
    expect({ ...roleOptions("worker"), ...o }.maxRetriesPerRequest).toBeNull();
    expect({ ...roleOptions("queue"), ...o }.enableOfflineQueue).toBe(false);
    expect({ ...roleOptions("client"), ...o }.retryStrategy).toBe(o.retryStrategy);
    // And so does the connection createRedis makes (not connected: lazyConnect).
    const worker = createRedis(t!, { role: "worker", overrides: { lazyConnect: true } });
    expect(worker.options).toMatchObject({ name: "m", role: "master", maxRetriesPerRequest: null });
    expect(worker.options.retryStrategy?.(1_000)).toBeLessThanOrEqual(1_200);
    worker.disconnect();
  });

  it("is the URL when redis.url is set, and nothing when neither is (the embedded Redis)", () => {
    expect(redisTargetFromConfig(parseConfig(base({ url: "redis://h:1" })).config.redis)).toBe("redis://h:1");
    expect(redisTargetFromConfig(parseConfig(base({})).config.redis)).toBeUndefined();
  });

  it("refuses a missing or empty password file with CONFIG_READ, warns about a readable one", () => {
    expect(() => readSecretFile(join(dir, "nope"), "redis.sentinels.passwordFile")).toThrow(
      expect.objectContaining({ code: "CONFIG_READ" }),
    );
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n", { mode: 0o600 });
    expect(() => readSecretFile(empty, "redis.sentinels.passwordFile")).toThrow(/is empty/);
    const open = join(dir, "open");
    writeFileSync(open, "pw");
    chmodSync(open, 0o644);
    const warnings: string[] = [];
    expect(readSecretFile(open, "redis.sentinels.passwordFile", (m) => warnings.push(m))).toBe("pw");
    expect(warnings).toEqual([expect.stringMatching(/readable by group or others/)]);
    expect(warnings.join()).not.toContain("pw\n");
  });
});

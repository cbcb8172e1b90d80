import { describe, expect, it } from "vitest";
import {
  reconnectDelay,
  redactRedisUrl,
  redisOptionsFromUrl,
  roleOptions,
} from "../../../src/redis/connection.js";

describe("redisOptionsFromUrl", () => {
  it("parses redis://", () => {
    expect(redisOptionsFromUrl("redis://127.0.0.1:6380/2")).toEqual({ host: "127.0.0.1", port: 6380, db: 2 });
    expect(redisOptionsFromUrl("redis://u:p%40ss@redis.internal")).toEqual({
      host: "redis.internal",
      port: 6379,
      username: "u",
      password: "p@ss",
    });
    expect(redisOptionsFromUrl("redis://[::1]:7000")).toEqual({ host: "::1", port: 7000 });
  });
  it("parses rediss:// with TLS and SNI", () => {
    expect(redisOptionsFromUrl("rediss://:pw@redis.example.org:6380/0")).toEqual({
      host: "redis.example.org",
      port: 6380,
      password: "pw",
      db: 0,
      tls: { servername: "redis.example.org" },
    });
  });
  it("parses unix:// sockets with ?db=", () => {
    expect(redisOptionsFromUrl("unix:///run/redis/redis.sock?db=3")).toEqual({
      path: "/run/redis/redis.sock",
      db: 3,
    });
    expect(redisOptionsFromUrl("unix:///var/lib/nixguard/redis/redis.sock")).toEqual({
      path: "/var/lib/nixguard/redis/redis.sock",
    });
  });
  it.each(["http://x", "not a url", "redis://h/abc", "unix://"])("refuses %j", (u) => {
    expect(() => redisOptionsFromUrl(u)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });
  it("redacts passwords for logs", () => {
    expect(redactRedisUrl("redis://u:secret@h:1/0")).not.toContain("secret");
  });
});

describe("roleOptions", () => {
  it("follows BullMQ's production guide", () => {
    expect(roleOptions("worker").maxRetriesPerRequest).toBeNull();
    expect(roleOptions("queue").enableOfflineQueue).toBe(false);
    for (const r of ["worker", "queue", "client"] as const)
      expect(typeof roleOptions(r).retryStrategy).toBe("function");
  });
  it("reconnects forever with a capped delay", () => {
    for (const times of [1, 10, 100, 10_000]) {
      const d = reconnectDelay(times);
      expect(typeof d).toBe("number");
      expect(d).toBeLessThanOrEqual(6_000);
      expect(d).toBeGreaterThan(0);
    }
  });
});

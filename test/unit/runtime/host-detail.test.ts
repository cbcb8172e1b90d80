import { describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import type { HostHealth } from "../../../src/controller/types.js";
import { HostDetailMemo } from "../../../src/runtime/host-detail.js";

const spec = (name: string) =>
  ({
    deployment: "d",
    name,
    address: `${name}.example`,
    target: "t",
    services: ["garage"],
  }) as unknown as HostSpec;
const health = (host: string): HostHealth => ({
  deployment: "d",
  host,
  state: "healthy",
  since: 1,
  reasons: [],
  checks: {},
});
const calm = { paused: false, quarantined: false, drift: false };

describe("HostDetailMemo", () => {
  it("gives the same frozen answer while spec, health, observation and flags are the same ones", () => {
    const memo = new HostDetailMemo();
    const a = spec("a");
    const h = health("a");
    const first = memo.get(a, h, undefined, calm);
    expect(Object.isFrozen(first)).toBe(true);
    expect(first).toMatchObject({ address: "a.example", services: ["garage"], paused: false });
    expect(memo.get(a, h, undefined, { ...calm })).toBe(first);
    const newHealth = memo.get(a, health("a"), undefined, calm);
    expect(newHealth).not.toBe(first);
    const paused = memo.get(a, newHealth.health, undefined, { ...calm, paused: true });
    expect(paused).not.toBe(newHealth);
    expect(paused.paused).toBe(true);
  });

  it("keeps the answers of the hosts asked for most recently, no more than its limit", () => {
    const memo = new HostDetailMemo(2);
    const [a, b, c] = [spec("a"), spec("b"), spec("c")];
    const [ha, hb, hc] = [health("a"), health("b"), health("c")];
    const firstA = memo.get(a, ha, undefined, calm);
    const firstB = memo.get(b, hb, undefined, calm);
    expect(memo.get(a, ha, undefined, calm)).toBe(firstA); // a is now the most recent
    memo.get(c, hc, undefined, calm); // b, the least recently asked, goes
    expect(memo.size).toBe(2);
    expect(memo.get(a, ha, undefined, calm)).toBe(firstA);
    const againB = memo.get(b, hb, undefined, calm);
    expect(againB).not.toBe(firstB);
    expect(againB).toEqual(firstB);
    expect(memo.size).toBe(2);
  });
});

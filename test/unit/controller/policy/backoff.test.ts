import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  backoffGate,
  recordAttempt,
  recordFinish,
  resetAfterHealth,
} from "../../../../src/controller/policy/backoff.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";

const cfg = { initial: 30_000, factor: 2, max: 1_800_000, resetAfter: 600_000 };

describe("backoff delay", () => {
  it("grows exponentially from initial", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, cfg))).toEqual([30_000, 60_000, 120_000, 240_000]);
  });

  it("is zero before the first attempt", () => {
    expect(backoffDelay(0, cfg)).toBe(0);
  });

  // Argo CD #20976: the self-heal backoff cap did not hold for large attempt counts.
  it("saturates at max and stays there, never overflowing or wrapping to zero", () => {
    expect(backoffDelay(6, cfg)).toBe(960_000);
    expect(backoffDelay(7, cfg)).toBe(1_800_000);
    for (const n of [8, 50, 1_100, 10_000, Number.MAX_SAFE_INTEGER]) {
      expect(backoffDelay(n, cfg)).toBe(1_800_000);
    }
    expect(backoffDelay(2_000, { ...cfg, factor: 10 })).toBe(1_800_000);
  });

  it("caps a first delay larger than max, and a factor of 1 stays flat", () => {
    expect(backoffDelay(1, { ...cfg, initial: 3_600_000 })).toBe(1_800_000);
    expect(backoffDelay(40, { ...cfg, factor: 1 })).toBe(30_000);
  });
});

describe("backoff state", () => {
  it("blocks an automatic action until nextAt, then allows it", () => {
    const s = recordAttempt(undefined, cfg, 1_000);
    expect(s).toEqual({ attempts: 1, nextAt: 31_000 });
    const g = backoffGate({ key: "k", state: s, origin: AUTOMATIC }, 30_999);
    expect(g).toMatchObject({ allowed: false, reason: "backoff", until: 31_000 });
    expect(backoffGate({ key: "k", state: s, origin: AUTOMATIC }, 31_000).allowed).toBe(true);
  });

  it("lets manual actions through", () => {
    const s = recordAttempt(undefined, cfg, 1_000);
    expect(backoffGate({ key: "k", state: s, origin: { manual: true, force: false } }, 1_001).allowed).toBe(
      true,
    );
  });

  it("counts the wait from when a long action finished, never shortening it", () => {
    const s = recordAttempt(undefined, cfg, 0); // nextAt 30 s
    expect(recordFinish(s, cfg, 600_000).nextAt).toBe(630_000);
    expect(recordFinish({ attempts: 1, nextAt: 900_000 }, cfg, 0).nextAt).toBe(900_000);
  });

  // Argo CD #21599: a brief recovery reset the backoff, so a flapping app was retried at the initial delay forever.
  it("resets only after resetAfter of sustained health", () => {
    let s = recordAttempt(undefined, cfg, 0);
    for (let i = 0; i < 5; i++) {
      // healthy for a minute between failures: not enough
      s = resetAfterHealth(s, 60_000, cfg) ?? recordAttempt(undefined, cfg, 0);
      s = recordAttempt(s, cfg, 0);
    }
    expect(s.attempts).toBe(6);
    expect(s.nextAt).toBe(960_000);
    expect(resetAfterHealth(s, 599_999, cfg)).toBe(s);
    expect(resetAfterHealth(s, 600_000, cfg)).toBeUndefined();
    expect(recordAttempt(resetAfterHealth(s, 600_000, cfg), cfg, 0)).toEqual({ attempts: 1, nextAt: 30_000 });
  });
});

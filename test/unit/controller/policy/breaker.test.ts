import { describe, expect, it } from "vitest";
import { breakerGate, breakerStatus } from "../../../../src/controller/policy/breaker.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";
import type { HostState } from "../../../../src/controller/types.js";

const cfg = { unhealthyFraction: 0.5, minHosts: 3 };
const fleet = (bad: HostState[], healthy: number): HostState[] => [
  ...bad,
  ...Array<HostState>(healthy).fill("healthy"),
];

describe("circuit breaker", () => {
  it("opens above the fraction: 3 of 5 (60 %) > 50 %, counting unreachable as bad", () => {
    expect(breakerStatus(fleet(["failing", "failing", "unreachable"], 2), cfg)).toEqual({
      open: true,
      bad: 3,
      total: 5,
    });
  });

  it("stays closed at exactly the fraction and for degraded or unknown hosts", () => {
    expect(breakerStatus(fleet(["failing", "failing"], 2), cfg).open).toBe(false);
    expect(breakerStatus(fleet(["degraded", "degraded", "unknown"], 0), cfg).open).toBe(false);
  });

  it("needs at least minHosts hosts", () => {
    expect(breakerStatus(["failing", "failing"], cfg).open).toBe(false);
    expect(breakerStatus([], cfg).open).toBe(false);
  });

  it("the gate blocks while open, except a forced manual action", () => {
    const breaker = { open: true, bad: 3, total: 5 };
    expect(breakerGate({ breaker, origin: AUTOMATIC }, 0)).toMatchObject({
      allowed: false,
      reason: "breaker",
    });
    expect(breakerGate({ breaker, origin: { manual: true, force: true } }, 0).allowed).toBe(true);
    expect(breakerGate({ breaker: { ...breaker, open: false }, origin: AUTOMATIC }, 0).allowed).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { inFlightGate } from "../../../../src/controller/policy/inflight.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";

describe("in-flight and settle gate", () => {
  it("blocks while an action of the deployment is queued or running", () => {
    const g = inFlightGate(
      { inFlight: [{ key: "redeploy__fedi", jobId: "j1", since: 0 }], origin: AUTOMATIC },
      5,
    );
    expect(g).toMatchObject({ allowed: false, reason: "inflight" });
  });

  it("blocks until the settle period ends", () => {
    expect(inFlightGate({ inFlight: [], settleUntil: 100, origin: AUTOMATIC }, 99)).toMatchObject({
      allowed: false,
      until: 100,
    });
    expect(inFlightGate({ inFlight: [], settleUntil: 100, origin: AUTOMATIC }, 100).allowed).toBe(true);
  });

  it("manual requests pass (the queue coalesces them)", () => {
    const g = inFlightGate(
      {
        inFlight: [{ key: "k", jobId: "j", since: 0 }],
        settleUntil: 100,
        origin: { manual: true, force: false },
      },
      5,
    );
    expect(g.allowed).toBe(true);
  });
});

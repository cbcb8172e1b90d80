import { describe, expect, it } from "vitest";
import { coveringPauses, pauseGate } from "../../../../src/controller/policy/pause.js";
import { AUTOMATIC, type Pause } from "../../../../src/controller/policy/types.js";

const p = (scope: Pause["scope"], until?: number): Pause => ({
  scope,
  reason: "migration",
  actor: "alice",
  since: 0,
  ...(until !== undefined ? { until } : {}),
});

describe("pause gate", () => {
  it("nothing paused allows", () => {
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: ["a"], pauses: [], origin: AUTOMATIC }, 0).allowed,
    ).toBe(true);
  });

  it("global, deployment and host pauses block what they cover", () => {
    const global = pauseGate(
      { deployment: "fedi", touchedHosts: ["a"], pauses: [p({ kind: "global" })], origin: AUTOMATIC },
      0,
    );
    expect(global).toMatchObject({ allowed: false, reason: "paused" });
    expect(!global.allowed && global.detail).toBe("everything paused by alice: migration");
    const dep = [p({ kind: "deployment", deployment: "fedi" })];
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: [], pauses: dep, origin: AUTOMATIC }, 0).allowed,
    ).toBe(false);
    expect(
      pauseGate({ deployment: "other", touchedHosts: [], pauses: dep, origin: AUTOMATIC }, 0).allowed,
    ).toBe(true);
    const host = [p({ kind: "host", deployment: "fedi", host: "b" })];
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: ["a"], pauses: host, origin: AUTOMATIC }, 0).allowed,
    ).toBe(true);
    // a deployment-wide apply touches b too
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: ["a", "b"], pauses: host, origin: AUTOMATIC }, 0).allowed,
    ).toBe(false);
  });

  it("an expired pause no longer counts; an active one reports its expiry", () => {
    const pauses = [p({ kind: "global" }, 1_000)];
    expect(pauseGate({ deployment: "fedi", touchedHosts: [], pauses, origin: AUTOMATIC }, 999)).toMatchObject(
      {
        allowed: false,
        until: 1_000,
      },
    );
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: [], pauses, origin: AUTOMATIC }, 1_000).allowed,
    ).toBe(true);
  });

  it("reports the widest scope first; manual needs force", () => {
    const pauses = [p({ kind: "host", deployment: "fedi", host: "a" }), p({ kind: "global" })];
    expect(coveringPauses({ deployment: "fedi", touchedHosts: ["a"], pauses }, 0)[0]?.scope.kind).toBe(
      "global",
    );
    const manual = { manual: true, force: false };
    expect(pauseGate({ deployment: "fedi", touchedHosts: ["a"], pauses, origin: manual }, 0).allowed).toBe(
      false,
    );
    expect(
      pauseGate({ deployment: "fedi", touchedHosts: ["a"], pauses, origin: { manual: true, force: true } }, 0)
        .allowed,
    ).toBe(true);
  });
});

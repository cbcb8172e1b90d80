import { describe, expect, it } from "vitest";
import { quarantineGate } from "../../../../src/controller/policy/quarantine.js";
import { AUTOMATIC, type QuarantineEntry } from "../../../../src/controller/policy/types.js";

const q: QuarantineEntry = {
  deployment: "fedi",
  host: "a",
  since: 0,
  until: 1_000,
  reason: "redeploy did not heal",
};

describe("quarantine gate", () => {
  it("blocks actions touching a quarantined host until the cooldown ends", () => {
    const input = { deployment: "fedi", touchedHosts: ["a"], entries: [q], origin: AUTOMATIC };
    expect(quarantineGate(input, 999)).toMatchObject({ allowed: false, reason: "quarantine", until: 1_000 });
    expect(quarantineGate(input, 1_000).allowed).toBe(true);
  });

  it("a deployment-wide apply touches the quarantined host; other hosts' actions pass", () => {
    expect(
      quarantineGate({ deployment: "fedi", touchedHosts: ["a", "b"], entries: [q], origin: AUTOMATIC }, 0)
        .allowed,
    ).toBe(false);
    expect(
      quarantineGate({ deployment: "fedi", touchedHosts: ["b"], entries: [q], origin: AUTOMATIC }, 0).allowed,
    ).toBe(true);
    expect(
      quarantineGate({ deployment: "x", touchedHosts: ["a"], entries: [q], origin: AUTOMATIC }, 0).allowed,
    ).toBe(true);
  });

  it("a deployment quarantine covers all its hosts; manual actions pass", () => {
    const whole = [{ ...q, host: undefined }];
    expect(
      quarantineGate({ deployment: "fedi", touchedHosts: ["z"], entries: whole, origin: AUTOMATIC }, 0)
        .allowed,
    ).toBe(false);
    const manual = { manual: true, force: false };
    expect(
      quarantineGate({ deployment: "fedi", touchedHosts: ["a"], entries: [q], origin: manual }, 0).allowed,
    ).toBe(true);
  });
});

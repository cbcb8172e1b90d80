import { describe, expect, it } from "vitest";
import { generationToRecord, hostsCoveredBy, isDrifted } from "../../../src/controller/drift.js";
import { fleetConfig, hostHealth } from "./fixtures.js";

const spec = fleetConfig().desired.deployments[0]!;

describe("drift", () => {
  const h = hostHealth("a", "healthy", [], {
    currentSystem: "/nix/store/x-system",
    systemAt: 100,
    lastObservedAt: 100,
  });

  it("is a system other than the recorded one, on a reachable host with no apply pending", () => {
    expect(isDrifted(h, "/nix/store/y-system", false)).toBe(true);
    expect(isDrifted(h, "/nix/store/x-system", false)).toBe(false);
    expect(isDrifted(h, undefined, false)).toBe(false);
    expect(isDrifted(h, "/nix/store/y-system", true)).toBe(false);
    expect(isDrifted({ ...h, state: "unreachable" }, "/nix/store/y-system", false)).toBe(false);
  });

  it("records the first observation that started after the apply finished", () => {
    expect(generationToRecord(h, 100)).toBe("/nix/store/x-system");
    expect(generationToRecord(h, 101)).toBeUndefined();
    expect(generationToRecord(h, 0)).toBeUndefined(); // still running
    // A later probe that could not reach the host (sshd restarting after the switch) carries the
    // old system over: not the apply's result, so nothing is recorded from it.
    const carried = { ...h, state: "unreachable" as const, lastObservedAt: 200 };
    expect(generationToRecord(carried, 150)).toBeUndefined();
  });

  it("an apply of the deployment covers every host; a host target only that host; restarts none", () => {
    expect(hostsCoveredBy({ kind: "redeploy", deployment: "fedi", target: "fedi" }, spec)).toEqual([
      "a",
      "b",
      "c",
      "d",
      "mastodon",
    ]);
    expect(
      hostsCoveredBy(
        { kind: "redeploy", deployment: "fedi", target: "fedi.mastodon", host: "mastodon" },
        spec,
      ),
    ).toEqual(["mastodon"]);
    expect(hostsCoveredBy({ kind: "restart", deployment: "fedi", host: "a", units: [] }, spec)).toEqual([]);
  });
});

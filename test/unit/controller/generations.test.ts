import { describe, expect, it } from "vitest";
import {
  causeFor,
  currentEntry,
  emptyGenerations,
  judgeCurrent,
  knownGood,
  noteSystem,
  withVerdict,
} from "../../../src/controller/generations.js";
import { systemStorePath } from "../../../src/sim/store-path.js";
import { check } from "./fixtures.js";

const M = 60_000;
const gen = (n: number) => systemStorePath("mastodon", n);
const seen = (n: number, at: number, by: "nixguard" | "other" = "other") => ({
  path: gen(n),
  at,
  by,
  cause: `c${n}`,
});

describe("generation memory", () => {
  it("records each switch with when, by whom and its cause; the same system again changes nothing", () => {
    let m = noteSystem(emptyGenerations(), seen(1, 0, "nixguard"), 16);
    const same = noteSystem(m, seen(1, 5 * M), 16);
    expect(same).toBe(m);
    m = noteSystem(m, seen(2, 10 * M), 16);
    expect(m.current).toBe(gen(2));
    expect(m.entries.map((e) => [e.path, e.since, e.by, e.cause, e.verdict])).toEqual([
      [gen(2), 10 * M, "other", "c2", "unknown"],
      [gen(1), 0, "nixguard", "c1", "unknown"],
    ]);
    // Back to 1: one entry, moved to the front with its new switch time, first sighting kept.
    m = noteSystem(m, seen(1, 20 * M), 16);
    expect(m.entries.map((e) => e.path)).toEqual([gen(1), gen(2)]);
    expect(currentEntry(m)).toMatchObject({ firstSeen: 0, since: 20 * M });
  });

  it("is bounded, forgetting the oldest generations that are not known-good first", () => {
    let m = noteSystem(emptyGenerations(), seen(1, 0), 3);
    m = withVerdict(m, gen(1), "good", 1);
    for (let i = 2; i <= 6; i++) m = noteSystem(m, seen(i, i * M), 3);
    expect(m.entries.map((e) => e.path)).toEqual([gen(6), gen(5), gen(1)]);
    expect(knownGood(m)).toEqual([gen(1)]);
  });

  it("a generation cleanly up for knownGoodAfter without a break becomes known-good", () => {
    let m = noteSystem(emptyGenerations(), seen(1, 10 * M), 16);
    const up = (at: number, extra: object = {}) => ({
      state: "healthy" as const,
      checks: {},
      currentSystem: gen(1),
      lastObservedAt: at,
      ...extra,
    });
    m = judgeCurrent(m, up(11 * M), 11 * M, 6 * M);
    expect(currentEntry(m)).toMatchObject({ verdict: "unknown", upSince: 11 * M });
    expect(judgeCurrent(m, up(16 * M), 16 * M, 6 * M)).toBe(m); // 5 min up
    expect(currentEntry(judgeCurrent(m, up(17 * M), 17 * M, 6 * M))?.verdict).toBe("good");
    // Any failure restarts the count: a failing host, or one whose failure an action's settle
    // period suppressed (state still healthy: what a broken deploy looks like at first), or a
    // check failing below failureThreshold.
    for (const broken of [
      { state: "failing" },
      { suppressed: true },
      { checks: { "a.service": check("a.service", "healthy", { consecutiveFailures: 1 }) } },
    ]) {
      const reset = judgeCurrent(m, up(16 * M, broken), 16 * M, 6 * M);
      expect(currentEntry(reset)?.upSince, JSON.stringify(broken)).toBeUndefined();
      expect(currentEntry(judgeCurrent(reset, up(30 * M), 30 * M, 6 * M))).toMatchObject({
        verdict: "unknown",
        upSince: 30 * M,
      });
    }
    const bad = withVerdict(m, gen(1), "bad", 11 * M, "a.service");
    expect(judgeCurrent(bad, up(60 * M), 60 * M, 6 * M)).toBe(bad);
  });

  it("a switch back to a remembered generation starts its clean-up count afresh", () => {
    let m = noteSystem(emptyGenerations(), seen(1, 0), 16);
    m = judgeCurrent(m, { state: "healthy", checks: {}, currentSystem: gen(1), lastObservedAt: M }, M, 6 * M);
    m = noteSystem(m, seen(2, 2 * M), 16);
    m = noteSystem(m, seen(1, 3 * M), 16);
    expect(currentEntry(m)?.upSince).toBeUndefined();
  });

  it("known-good targets exclude the running system, newest switch first", () => {
    let m = noteSystem(emptyGenerations(), seen(1, 0), 16);
    m = withVerdict(m, gen(1), "good", 1);
    m = noteSystem(m, seen(2, M), 16);
    m = withVerdict(m, gen(2), "good", 2);
    m = noteSystem(m, seen(3, 2 * M), 16);
    expect(knownGood(m)).toEqual([gen(2), gen(1)]);
    m = withVerdict(m, gen(3), "good", 3);
    expect(knownGood(m)).toEqual([gen(2), gen(1)]);
  });

  it("hosts switched by one apply share its cause; another switcher or a later apply does not", () => {
    const other = noteSystem(emptyGenerations(), { ...seen(7, 10 * M), cause: "apply X" }, 16);
    expect(causeFor("fedi", { at: 11 * M, by: "other" }, [other], 2 * M)).toBe("apply X");
    expect(causeFor("fedi", { at: 11 * M, by: "nixguard" }, [other], 2 * M)).toContain(
      "NixGuard's apply of fedi",
    );
    expect(causeFor("fedi", { at: 30 * M, by: "other" }, [other], 2 * M)).toBe(
      `a deploy by someone else of fedi first seen ${new Date(30 * M).toISOString()}`,
    );
  });
});

import { describe, expect, it } from "vitest";
import type { UnitCheck } from "../../../src/config/desired.js";
import { evaluateHost, type HealthContext, judgeUnit } from "../../../src/controller/health.js";
import type { HostHealth } from "../../../src/controller/types.js";
import type { HostObservation, HttpResult, UnitState } from "../../../src/probes/types.js";
import { healthContext, judgeSeries, mastodonSpec } from "../../helpers/health-context.js";
import { unitState as state } from "../../helpers/unit-state.js";

const unit = (id: string, oneshot = false): UnitCheck => ({ id, unit: id, oneshot });

const spec = mastodonSpec(
  [unit("mastodon-web.service"), unit("mastodon-init-db.service", true)],
  [
    {
      id: "http:mastodon-health",
      name: "mastodon-health",
      url: "https://mastodon.example.org/health",
      method: "GET",
      expectStatus: [200],
      timeoutMs: 10_000,
      followRedirects: false,
      tlsVerify: true,
      units: ["mastodon-web.service"],
    },
  ],
);

const ok: HttpResult = {
  check: "http:mastodon-health",
  ok: true,
  result: "ok",
  status: 200,
  durationMs: 5,
  reason: "GET … → 200 in 5 ms",
};
const bad: HttpResult = { ...ok, ok: false, result: "fail", status: 502, reason: "GET … → 502 in 31 ms" };

function obs(
  web: string | UnitState,
  http: HttpResult = ok,
  extra: Partial<HostObservation> = {},
): HostObservation {
  const webState = typeof web === "string" ? state("mastodon-web.service", web) : web;
  return {
    deployment: "fediversity",
    host: "mastodon",
    at: 0,
    durationMs: 10,
    reachable: true,
    facts: {
      units: {
        "mastodon-web.service": webState,
        "mastodon-init-db.service": state("mastodon-init-db.service", "inactive", { type: "oneshot" }),
      },
      disks: [{ mount: "/", sizeBytes: 100, usedBytes: 10, usedFraction: 0.1 }],
      load: [0.1, 0.1, 0.1],
      cpus: 4,
    },
    http: [http],
    ...extra,
  };
}

const ctx = healthContext;
const run = (observations: HostObservation[], over: Partial<HealthContext> = {}) =>
  judgeSeries(spec, observations, 1000, over);

describe("evaluateHost: hysteresis", () => {
  it("starts unknown and turns healthy after successThreshold passes", () => {
    const [first] = run([obs("active")], { successThreshold: 2 });
    expect(first!.state).toBe("unknown");
    const h = run([obs("active"), obs("active")], { successThreshold: 2 });
    expect(h[1]!.state).toBe("healthy");
    expect(h[1]!.since).toBe(1000);
  });

  it("turns failing only after failureThreshold consecutive failures, with since and reasons", () => {
    const h = run([obs("active"), obs("failed"), obs("failed"), obs("failed"), obs("failed")]);
    expect(h.map((x) => x.state)).toEqual(["healthy", "healthy", "healthy", "failing", "failing"]);
    expect(h[3]!.since).toBe(3000);
    expect(h[4]!.since).toBe(3000);
    expect(h[3]!.checks["mastodon-web.service"]).toMatchObject({
      state: "failing",
      consecutiveFailures: 3,
      since: 3000,
    });
    expect(h[3]!.reasons).toEqual(["mastodon-web.service: failed (dead)"]);
  });

  it("a pass in between resets the failure count", () => {
    const h = run([obs("active"), obs("failed"), obs("failed"), obs("active"), obs("failed"), obs("failed")]);
    expect(h.at(-1)!.state).toBe("healthy");
  });

  it("recovers after successThreshold passes", () => {
    const h = run([obs("failed"), obs("failed"), obs("failed"), obs("active"), obs("active")], {
      successThreshold: 2,
    });
    expect(h.map((x) => x.state)).toEqual(["unknown", "unknown", "failing", "failing", "healthy"]);
  });

  it("activating (start) and reloading are not failing yet, and do not count as passes", () => {
    const starting = state("mastodon-web.service", "activating", { subState: "start" });
    const h = run([obs("active"), obs("failed"), obs(starting), obs("failed"), obs("reloading")]);
    expect(h[3]!.checks["mastodon-web.service"]!.consecutiveFailures).toBe(2);
    expect(h.every((x) => x.state === "healthy")).toBe(true);
    expect(h[2]!.checks["mastodon-web.service"]!.reason).toBe("activating (start)");
  });

  it("activating (auto-restart) is a failure: the process died and waits for RestartSec", () => {
    // Real systemd 252: the restart is not counted in NRestarts until it is carried out.
    const waiting = (n: number) =>
      state("mastodon-web.service", "activating", {
        subState: "auto-restart",
        result: "exit-code",
        nRestarts: n,
        execMainCode: 1,
        execMainStatus: 3,
      });
    const h = run([obs("active"), obs(waiting(0)), obs(waiting(0)), obs(waiting(0))], {
      crashLoop: { restarts: 100, windowMs: 300_000 },
    });
    expect(h.map((x) => x.state)).toEqual(["healthy", "healthy", "healthy", "failing"]);
    // The reason names the loop it is part of: one restart (the one it waits for) since the last
    // observation that saw it running (crash-loop.test.ts).
    expect(h[3]!.reasons).toEqual(["mastodon-web.service: crash loop: 1 restart in 3 s, last exit code 3"]);
  });

  it("counts HTTP failures like unit failures", () => {
    const h = run([obs("active"), obs("active", bad), obs("active", bad), obs("active", bad)]);
    expect(h[3]!.state).toBe("failing");
    expect(h[3]!.checks["http:mastodon-health"]).toMatchObject({
      state: "failing",
      units: ["mastodon-web.service"],
    });
  });
});

describe("evaluateHost: suppression while an action is in flight", () => {
  it("records failures but does not count them", () => {
    const h = run([obs("active"), obs("failed"), obs("failed"), obs("failed"), obs("failed")], {
      suppress: true,
    });
    expect(h.every((x) => x.state === "healthy")).toBe(true);
    expect(h[4]!.suppressed).toBe(true);
    expect(h[4]!.checks["mastodon-web.service"]).toMatchObject({
      consecutiveFailures: 0,
      reason: "failed (dead)",
    });
  });

  it("counts again once the suppression ends", () => {
    let prev: HostHealth | undefined;
    for (let i = 0; i < 5; i++) prev = evaluateHost(prev, spec, obs("failed"), ctx(i, { suppress: i < 3 }));
    expect(prev!.checks["mastodon-web.service"]!.consecutiveFailures).toBe(2);
    expect(prev!.state).toBe("unknown");
  });
});

describe("evaluateHost: unreachable", () => {
  const down = (msg = "127.0.0.1: Connection refused") =>
    obs("active", ok, {
      reachable: false,
      facts: undefined,
      error: { code: "PROBE_UNREACHABLE", message: msg },
    });

  it("keeps the last state until failureThreshold transport failures, then unreachable", () => {
    const h = run([obs("active"), down(), down(), down(), obs("active")]);
    expect(h.map((x) => x.state)).toEqual(["healthy", "healthy", "healthy", "unreachable", "healthy"]);
    expect(h[1]!.reasons[0]).toBe("transport failed (1/3): 127.0.0.1: Connection refused");
    expect(h[3]!.reasons).toEqual(["unreachable: 127.0.0.1: Connection refused"]);
    expect(h[3]!.checks["mastodon-web.service"]!.state).toBe("healthy");
  });

  it("an unreachable host is never failing, whatever its HTTP checks say", () => {
    const h = run([down(), down(), down()].map((o) => ({ ...o, http: [bad] })));
    expect(h[2]!.state).toBe("unreachable");
  });
});

describe("evaluateHost: resources and units", () => {
  it("disk or load over threshold make the host degraded, never failing", () => {
    const full = obs("active");
    full.facts!.disks = [{ mount: "/nix", sizeBytes: 100, usedBytes: 95, usedFraction: 0.95 }];
    const h = run([full]);
    expect(h[0]!.state).toBe("degraded");
    expect(h[0]!.reasons).toEqual(["disk /nix 95% used (threshold 90%)"]);
    const busy = obs("active");
    busy.facts!.load = [30, 20, 10];
    expect(run([busy])[0]!.reasons[0]).toMatch(/^load 20\.00 on 4 CPUs/);
  });

  it("a not-found unit is failing with missing: true", () => {
    const gone = state("mastodon-web.service", "inactive", { loadState: "not-found" });
    const h = run([obs(gone), obs(gone), obs(gone)]);
    expect(h[2]!.checks["mastodon-web.service"]).toMatchObject({ state: "failing", missing: true });
  });

  it("drops checks no longer in the spec and keeps the current system", () => {
    const prev = run([obs("active")])[0]!;
    prev.checks["old.service"] = { ...prev.checks["mastodon-web.service"]!, id: "old.service" };
    const o = obs("active");
    o.facts!.currentSystem = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system";
    const next = evaluateHost(prev, spec, o, ctx(5));
    expect(next.checks["old.service"]).toBeUndefined();
    expect(next.currentSystem).toBe(o.facts!.currentSystem);
  });

  it("carries the system over a probe that could not read it, with the time it was read", () => {
    const seen = obs("active");
    seen.facts!.currentSystem = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system";
    const lost = obs("active", ok, { reachable: false });
    delete lost.facts;
    const [first, second] = run([seen, lost]);
    expect(first).toMatchObject({ currentSystem: seen.facts!.currentSystem, systemAt: 0, lastObservedAt: 0 });
    expect(second).toMatchObject({
      currentSystem: seen.facts!.currentSystem,
      systemAt: 0,
      lastObservedAt: 1000,
    });
  });
});

describe("the system's first reading", () => {
  it("keeps the time a system was first read across later readings, and starts again on a switch", () => {
    const sys = (path: string) => {
      const o = obs("active");
      o.facts!.currentSystem = path;
      return o;
    };
    const a = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-a";
    const b = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-nixos-system-b";
    const lost = obs("active", ok, { reachable: false });
    delete lost.facts;
    const seq = run([sys(a), sys(a), lost, sys(a), sys(b), sys(b)]);
    expect(seq.map((h) => h.systemSince)).toEqual([0, 0, 0, 0, 4000, 4000]);
    expect(seq.map((h) => h.systemAt)).toEqual([0, 1000, 1000, 3000, 4000, 5000]);
  });
});

describe("judgeUnit", () => {
  it("a conditional unit (its module option off) that is not installed passes; judged once the host has it", () => {
    const cond: UnitCheck = { ...unit("redis-peertube.service"), conditional: true };
    const notFound = state("redis-peertube.service", "inactive", { loadState: "not-found" });
    expect(judgeUnit(cond, notFound)).toMatchObject({ outcome: "pass" });
    expect(judgeUnit(cond, notFound).missing).toBeUndefined();
    expect(judgeUnit(cond, undefined).outcome).toBe("pass");
    expect(judgeUnit(cond, state("redis-peertube.service", "failed")).outcome).toBe("fail");
    // Not conditional: missing, which calls for a redeploy.
    expect(judgeUnit(unit("redis-peertube.service"), notFound)).toMatchObject({
      outcome: "fail",
      missing: true,
    });
  });

  const j = (s: Partial<UnitState>, oneshot = false) =>
    judgeUnit(unit("x.service", oneshot), { ...state("x.service", "active"), ...s }).outcome;

  it("judges running units by ActiveState", () => {
    expect(j({ activeState: "active" })).toBe("pass");
    for (const a of ["inactive", "failed", "deactivating"]) expect(j({ activeState: a })).toBe("fail");
    for (const a of ["activating", "reloading"]) expect(j({ activeState: a })).toBe("pending");
  });

  it("judges oneshots by Result, configured or by Type", () => {
    expect(j({ activeState: "inactive", result: "success" }, true)).toBe("pass");
    expect(j({ activeState: "inactive", result: "exit-code" }, true)).toBe("fail");
    expect(j({ activeState: "failed", result: "exit-code", type: "oneshot" })).toBe("fail");
    expect(j({ activeState: "inactive", result: "success", type: "oneshot" })).toBe("pass");
    expect(j({ activeState: "activating", type: "oneshot" })).toBe("pending");
  });

  it("judges timers by being active", () => {
    const t = (a: string) => judgeUnit(unit("x.timer"), { ...state("x.timer", a), type: "" }).outcome;
    expect(t("active")).toBe("pass");
    expect(t("inactive")).toBe("fail");
  });

  it("fails masked and unreported units", () => {
    expect(j({ loadState: "masked" })).toBe("fail");
    expect(judgeUnit(unit("x.service"), undefined).outcome).toBe("fail");
  });
});

describe("evaluateHost: pure for callers", () => {
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === "object" && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const v of Object.values(o)) deepFreeze(v);
    }
    return o;
  };

  it("never mutates the previous health, the spec or the observation", () => {
    const frozenSpec = deepFreeze(structuredClone(spec));
    let prev: HostHealth | undefined;
    for (const o of [obs("active"), obs("active"), obs("failed", bad), obs("active")]) {
      const snapshot = structuredClone(prev);
      const next = evaluateHost(prev && deepFreeze(prev), frozenSpec, deepFreeze(o), ctx(1000));
      expect(prev).toEqual(snapshot);
      prev = next;
    }
  });

  it("an HTTP check's units are the catalog's values, never the spec's own array", () => {
    const own = structuredClone(spec);
    const h = run([obs("active"), obs("active")]);
    for (const x of h) expect(x.checks["http:mastodon-health"]!.units).toEqual(["mastodon-web.service"]);
    const first = evaluateHost(undefined, own, obs("active"), ctx(0));
    expect(first.checks["http:mastodon-health"]!.units).not.toBe(own.http[0]!.units);
    own.http[0]!.units.push("changed.service");
    expect(first.checks["http:mastodon-health"]!.units).toEqual(["mastodon-web.service"]);
    const second = evaluateHost(first, own, obs("active"), ctx(1));
    expect(second.checks["http:mastodon-health"]!.units).toEqual(["mastodon-web.service", "changed.service"]);
  });

  it("a healthy host's output has the same values on every probe but the counters and times", () => {
    const [a, b] = run([obs("active"), obs("active")]);
    expect(b).toEqual({
      ...a,
      lastObservedAt: 1000,
      checks: Object.fromEntries(
        Object.entries(a!.checks).map(([id, c]) => [
          id,
          { ...c, lastObservedAt: 1000, consecutiveSuccesses: c.consecutiveSuccesses + 1 },
        ]),
      ),
    });
    expect(Object.keys(b!.checks["http:mastodon-health"]!)).toEqual(
      Object.keys(a!.checks["http:mastodon-health"]!),
    );
  });
});

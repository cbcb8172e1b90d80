import { describe, expect, it } from "vitest";
import { type Action, actionKey } from "../../../../src/action.js";
import { evaluatePolicy, type PolicyInput, touchedHosts } from "../../../../src/controller/policy/index.js";
import { AUTOMATIC } from "../../../../src/controller/policy/types.js";
import { BLOCK_REASONS } from "../../../../src/controller/types.js";
import { fleetConfig } from "../fixtures.js";

const H = 3_600_000;
const restart: Action = { kind: "restart", deployment: "fedi", host: "a", units: ["a.service"] };
const redeploy: Action = { kind: "redeploy", deployment: "fedi", target: "fedi" };
const BAD = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-b-25.05.20250602.bbbbbbb";
const GOOD = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-b-25.05.20250601.aaaaaaa";
const held = {
  deployment: "fedi",
  host: "b",
  bad: BAD,
  to: GOOD,
  since: 0,
  reason: "b.service",
  actor: "controller",
};

function input(over: Partial<PolicyInput> = {}, remediation = {}): PolicyInput {
  return {
    action: restart,
    key: actionKey(restart),
    origin: AUTOMATIC,
    deploymentHosts: ["a", "b"],
    config: fleetConfig(remediation).config.remediation,
    pauses: [],
    breaker: { open: false, bad: 0, total: 5 },
    inFlight: [],
    backoff: undefined,
    budget: { deployment: [], global: [] },
    quarantines: [],
    timezone: "UTC",
    ...over,
  };
}

describe("policy gates in order", () => {
  it("allows when nothing blocks", () => {
    expect(evaluatePolicy(input(), 0)).toEqual({ allowed: true });
  });

  it("the first blocking gate in the design's order names the reason", () => {
    const everything = input(
      {
        pauses: [{ scope: { kind: "global" }, reason: "r", actor: "x", since: 0 }],
        breaker: { open: true, bad: 4, total: 5 },
        inFlight: [{ key: "k", jobId: "j", since: 0 }],
        backoff: { attempts: 1, nextAt: 10 * H },
        budget: { deployment: [1, 2, 3], global: [] },
        quarantines: [{ deployment: "fedi", host: "a", since: 0, until: 10 * H, reason: "r" }],
        holds: [held],
        // The held gate holds redeploys only: a deployment apply touches every host.
        action: redeploy,
        key: actionKey(redeploy),
      },
      { mode: "dry-run", maintenance: [{ cron: "* * * * *", duration: "1h" }] },
    );
    const order: string[] = [];
    let cur = everything;
    const strip: Record<string, Partial<PolicyInput>> = {
      mode: { config: { ...cur.config, mode: "enforce" } },
      paused: { pauses: [] },
      maintenance: { config: { ...cur.config, mode: "enforce", maintenance: [] } },
      breaker: { breaker: { open: false, bad: 0, total: 5 } },
      inflight: { inFlight: [] },
      backoff: { backoff: undefined },
      budget: { budget: { deployment: [], global: [] } },
      quarantine: { quarantines: [] },
      held: { holds: [] },
    };
    for (;;) {
      const r = evaluatePolicy(cur, 100);
      if (r.allowed) break;
      order.push(r.reason);
      cur = { ...cur, ...strip[r.reason] };
    }
    expect(order).toEqual([...BLOCK_REASONS]);
  });

  it("manual actions skip the automatic-only gates but not pause unless forced", () => {
    const busy = input({
      inFlight: [{ key: "k", jobId: "j", since: 0 }],
      backoff: { attempts: 3, nextAt: H },
      budget: { deployment: [1, 2, 3], global: [] },
      quarantines: [{ deployment: "fedi", host: "a", since: 0, until: H, reason: "r" }],
    });
    expect(evaluatePolicy({ ...busy, origin: { manual: true, force: false } }, 0).allowed).toBe(true);
    const paused = {
      ...busy,
      pauses: [{ scope: { kind: "global" as const }, reason: "r", actor: "x", since: 0 }],
    };
    expect(evaluatePolicy({ ...paused, origin: { manual: true, force: false } }, 0)).toMatchObject({
      reason: "paused",
    });
    expect(evaluatePolicy({ ...paused, origin: { manual: true, force: true } }, 0).allowed).toBe(true);
  });

  it("quarantining is held by the running action, not by budget or backoff", () => {
    const q: Action = { kind: "quarantine", deployment: "fedi", host: "a" };
    const spent = input({
      action: q,
      key: actionKey(q),
      budget: { deployment: [1, 2, 3], global: [] },
      backoff: { attempts: 9, nextAt: H },
    });
    expect(evaluatePolicy(spent, 100).allowed).toBe(true);
    expect(evaluatePolicy({ ...spent, settleUntil: 200 }, 100)).toMatchObject({ reason: "inflight" });
  });

  it("a deployment-wide redeploy touches every host; a host action only its host", () => {
    expect(touchedHosts({ kind: "redeploy", deployment: "fedi", target: "fedi" }, ["a", "b"])).toEqual([
      "a",
      "b",
    ]);
    expect(
      touchedHosts({ kind: "redeploy", deployment: "fedi", target: "t", host: "b" }, ["a", "b"]),
    ).toEqual(["b"]);
    expect(touchedHosts(restart, ["a", "b"])).toEqual(["a"]);
  });
});

describe("held gate", () => {
  const hostRedeploy: Action = { kind: "redeploy", deployment: "fedi", target: "fedi.a", host: "a" };
  const rollback: Action = { kind: "rollback", deployment: "fedi", host: "b", to: [GOOD] };

  it("blocks an automatic redeploy touching a held host, naming the generation and the way out", () => {
    const r = evaluatePolicy(input({ action: redeploy, key: actionKey(redeploy), holds: [held] }), 0);
    expect(r).toMatchObject({ allowed: false, reason: "held" });
    if (r.allowed) return;
    expect(r.detail).toContain("nixos-system-b-25.05.20250602.bbbbbbb broke b.service on fedi/b");
    expect(r.detail).toContain("nixguard release fedi/b");
  });

  it("lets through redeploys of other hosts, restarts, rollbacks and manual redeploys", () => {
    for (const action of [hostRedeploy, restart, rollback])
      expect(evaluatePolicy(input({ action, key: actionKey(action), holds: [held] }), 0)).toEqual({
        allowed: true,
      });
    const manual = { manual: true, force: false };
    expect(
      evaluatePolicy(input({ action: redeploy, key: actionKey(redeploy), holds: [held], origin: manual }), 0),
    ).toEqual({ allowed: true });
  });
});

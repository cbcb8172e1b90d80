import { describe, expect, it } from "vitest";
import { emptyPolicyState, type PolicyState } from "../../../src/controller/policy-state.js";
import { reconcileDeployment } from "../../../src/controller/reconciler.js";
import type { HostHealth } from "../../../src/controller/types.js";
import { check, fleetConfig, hostHealth } from "./fixtures.js";

const M = 60_000;
const loaded = fleetConfig({ restartAttempts: 2, restartWindow: "30m" });
const deployment = loaded.desired.deployments[0]!;
const config = loaded.config.remediation;
const now = 100 * M;

function run(hosts: HostHealth[], state: Partial<PolicyState> = {}, cfg = config) {
  const health = new Map(hosts.map((h) => [h.host, h]));
  return reconcileDeployment({
    deployment,
    health,
    state: { ...emptyPolicyState(), ...state },
    config: cfg,
    now,
  });
}

/** What a decision adds when a host is redeployed through its deployment's target. */
const via = (host: string) =>
  ` (${host} has no nixops4 target of its own: redeploying deployment fedi's target fedi, all its hosts)`;

describe("reconciler: remediation ladder", () => {
  it("healthy, degraded, unknown and unreachable hosts get nothing", () => {
    const r = run([
      hostHealth("a", "healthy"),
      hostHealth("b", "degraded", [check("a.service", "failing")]),
      hostHealth("c", "unreachable", [check("a.service", "failing")]),
      hostHealth("d", "unknown"),
    ]);
    expect(r.plan).toEqual([]);
  });

  it("restarts the failing units of a host, sorted, in one action", () => {
    const r = run([
      hostHealth("a", "failing", [check("b.service", "failing"), check("a.service", "failing")]),
    ]);
    expect(r.plan).toEqual([
      {
        action: { kind: "restart", deployment: "fedi", host: "a", units: ["a.service", "b.service"] },
        key: "restart__fedi__a",
        reason: "a.service, b.service failing",
        hosts: ["a"],
      },
    ]);
  });

  it("a timer whose service's last run failed restarts that service (it runs again)", () => {
    const timer = check("pixelfed-cron.timer", "failing", { units: ["pixelfed-cron.service"] });
    const r = run([hostHealth("a", "failing", [timer, check("a.service", "failing")])]);
    expect(r.plan.map((p) => p.action)).toEqual([
      { kind: "restart", deployment: "fedi", host: "a", units: ["a.service", "pixelfed-cron.service"] },
    ]);
  });

  it("never plans a restart through a transport that cannot restart: exporter hosts go straight to redeploy, saying why", () => {
    const exporterOnly = {
      ...deployment,
      hosts: deployment.hosts.map((h) =>
        h.name === "a"
          ? { ...h, transport: { kind: "exporter" as const, url: "http://127.0.0.1:9100/metrics" } }
          : h,
      ),
    };
    const r = reconcileDeployment({
      deployment: exporterOnly,
      health: new Map([["a", hostHealth("a", "failing", [check("a.service", "failing")])]]),
      state: emptyPolicyState(),
      config,
      now,
    });
    expect(r.plan.map((p) => p.action.kind)).toEqual(["redeploy"]);
    expect(r.plan[0]?.reason).toBe(`a: a.service failing; the exporter transport cannot restart${via("a")}`);
  });

  it("after restartAttempts restarts in the window, redeploys the deployment", () => {
    const attempts = { restart__fedi__a: [now - 20 * M, now - 5 * M] };
    const r = run([hostHealth("a", "failing", [check("a.service", "failing")])], { attempts });
    expect(r.plan).toHaveLength(1);
    expect(r.plan[0]?.action).toEqual({ kind: "redeploy", deployment: "fedi", target: "fedi" });
    expect(r.plan[0]?.reason).toBe(`a: 2 restart(s) in 30m did not heal${via("a")}`);
    // the older restart leaves the window in 10 minutes: the ladder may restart again then
    expect(r.requeueAfterMs).toBe(10 * M);
  });

  it("restarts older than the window do not count", () => {
    const attempts = { restart__fedi__a: [now - 40 * M, now - 5 * M] };
    const r = run([hostHealth("a", "failing", [check("a.service", "failing")])], { attempts });
    expect(r.plan[0]?.action.kind).toBe("restart");
  });

  it("a missing unit redeploys at once; a host with its own target redeploys only itself", () => {
    const r = run([
      hostHealth("a", "failing", [check("a.service", "failing", { missing: true })]),
      hostHealth("mastodon", "failing", [check("mastodon-web.service", "failing", { missing: true })]),
    ]);
    expect(r.plan.map((p) => p.action)).toEqual([
      { kind: "redeploy", deployment: "fedi", target: "fedi" },
      { kind: "redeploy", deployment: "fedi", target: "fedi.mastodon", host: "mastodon" },
    ]);
    expect(r.plan[0]?.reason).toBe(`a: a.service missing${via("a")}`);
    // The host with a target of its own: its decision names nothing else.
    expect(r.plan[1]?.reason).toBe("mastodon: mastodon-web.service missing");
  });

  it("hosts needing the deployment's apply share one action", () => {
    const failing = [check("a.service", "failing", { missing: true })];
    const r = run([hostHealth("a", "failing", failing), hostHealth("b", "failing", failing)]);
    expect(r.plan).toHaveLength(1);
    expect(r.plan[0]?.hosts).toEqual(["a", "b"]);
    expect(r.plan[0]?.reason).toBe(
      "a: a.service missing; b: a.service missing (a, b have no nixops4 target of their own: redeploying deployment fedi's target fedi, all its hosts)",
    );
  });

  it("an HTTP check failing while its units are active restarts those units", () => {
    const r = run([
      hostHealth("mastodon", "failing", [
        check("mastodon-web.service", "healthy", { activeState: "active" }),
        check("http:home", "failing", { units: ["mastodon-web.service"] }),
      ]),
    ]);
    expect(r.plan.map((p) => p.action)).toEqual([
      { kind: "restart", deployment: "fedi", host: "mastodon", units: ["mastodon-web.service"] },
    ]);
  });

  it("an HTTP check failing because its unit is down restarts via the unit, not twice", () => {
    const r = run([
      hostHealth("mastodon", "failing", [
        check("mastodon-web.service", "failing", { activeState: "failed" }),
        check("http:home", "failing", { units: ["mastodon-web.service"] }),
      ]),
    ]);
    expect(r.plan.map((p) => p.action)).toEqual([
      { kind: "restart", deployment: "fedi", host: "mastodon", units: ["mastodon-web.service"] },
    ]);
    // ...and with the unit not yet judged failing (hysteresis) but inactive, nothing yet
    const early = run([
      hostHealth("mastodon", "failing", [
        check("mastodon-web.service", "healthy", { activeState: "inactive" }),
        check("http:home", "failing", { units: ["mastodon-web.service"] }),
      ]),
    ]);
    expect(early.plan).toEqual([]);
  });

  it("an HTTP check with no unit to restart escalates to a redeploy", () => {
    const r = run([hostHealth("a", "failing", [check("http:x", "failing", { units: [] })])]);
    expect(r.plan[0]?.action.kind).toBe("redeploy");
  });

  it("quarantines when a redeploy since the failure did not heal and the budget is spent", () => {
    const failing = [check("a.service", "failing", { missing: true })];
    const h = hostHealth("a", "failing", failing, { since: now - 30 * M });
    const spent = { deployment: [now - 25 * M, now - 20 * M, now - 10 * M], global: [] };
    const r = run([h], { attempts: { redeploy__fedi: [now - 10 * M] }, budget: spent });
    expect(r.plan.map((p) => p.action)).toEqual([{ kind: "quarantine", deployment: "fedi", host: "a" }]);
    // budget left: redeploy again
    expect(run([h], { attempts: { redeploy__fedi: [now - 10 * M] } }).plan[0]?.action.kind).toBe("redeploy");
    // budget spent by others, but no redeploy tried since this failure: let the budget gate hold it
    const old = run([h], { attempts: { redeploy__fedi: [now - 40 * M] }, budget: spent });
    expect(old.plan[0]?.action.kind).toBe("redeploy");
    // already quarantined: not again
    const q = [{ deployment: "fedi", host: "a", since: now - M, until: now + M, reason: "r" }];
    const again = run([h], { attempts: { redeploy__fedi: [now - 10 * M] }, budget: spent, quarantines: q });
    expect(again.plan.map((p) => p.action.kind)).toEqual(["redeploy"]);
  });
});

describe("reconciler: drift", () => {
  const drifted = hostHealth("b", "healthy", [], { currentSystem: "/nix/store/new-system" });
  const generations = { b: "/nix/store/old-system" };

  it("redeploys a host running a system NixGuard did not deploy", () => {
    const r = run([drifted], { generations });
    expect(r.plan).toEqual([
      {
        action: { kind: "redeploy", deployment: "fedi", target: "fedi" },
        key: "redeploy__fedi",
        reason: `b: drift${via("b")}`,
        hosts: ["b"],
      },
    ]);
  });

  it("alert and ignore do not redeploy", () => {
    for (const drift of ["alert", "ignore"] as const) {
      expect(run([drifted], { generations }, { ...config, drift }).plan).toEqual([]);
    }
  });

  it("no drift without a recorded generation, while an apply is pending, or for the recorded system", () => {
    expect(run([drifted]).plan).toEqual([]);
    expect(run([drifted], { generations, generationPending: { b: 0 } }).plan).toEqual([]);
    expect(run([drifted], { generations: { b: "/nix/store/new-system" } }).plan).toEqual([]);
  });
});

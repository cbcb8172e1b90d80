import { type Action, actionKey } from "../action.js";
import type { DeploymentSpec, HostSpec } from "../config/desired.js";
import { formatDuration } from "../config/duration.js";
import { CAN_RESTART, CAN_SWITCH } from "../probes/transports/capabilities.js";
import { driftedHosts } from "./drift.js";
import { budgetExhausted } from "./policy/budget.js";
import { activeQuarantines } from "./policy/quarantine.js";
import type { RemediationConfig } from "./policy/types.js";
import type { PolicyState } from "./policy-state.js";
import { planRollback } from "./rollback-rung.js";
import type { CheckHealth, HostHealth } from "./types.js";

export interface PlannedAction {
  action: Action;
  key: string;
  /** Why, in a few words, for events and job data. */
  reason: string;
  /** Hosts whose state asked for it (empty for schedules). */
  hosts: string[];
}

export interface ReconcileInput {
  deployment: DeploymentSpec;
  /** Judged health per host name of this deployment. */
  health: ReadonlyMap<string, HostHealth>;
  state: PolicyState;
  config: RemediationConfig;
  now: number;
}

export interface ReconcileOutput {
  plan: PlannedAction[];
  /** When the ladder itself changes its mind with no new observation (a restart leaves its window). */
  requeueAfterMs?: number;
}

/**
 * Desired versus observed for one deployment → the actions the remediation ladder calls for,
 * before any policy gate: restart failing units, then redeploy, then quarantine. Pure.
 */
export function reconcileDeployment(input: ReconcileInput): ReconcileOutput {
  const { deployment, health, state, config, now } = input;
  const drifted = config.drift === "redeploy" ? new Set(driftedHosts(deployment, health, state)) : new Set();
  const quarantines: PlannedAction[] = [];
  const restarts: PlannedAction[] = [];
  const rollbacks: PlannedAction[] = [];
  const redeploys = new Map<string, PlannedAction>();
  let requeueAt: number | undefined;

  for (const host of deployment.hosts) {
    const h = health.get(host.name);
    // Unreachable: nothing can run there (the breaker counts it). Degraded: not broken.
    if (!h || (h.state !== "failing" && !drifted.has(host.name))) continue;
    const redeployWhy: string[] = [];
    if (drifted.has(host.name)) redeployWhy.push("drift");

    const { units, missing, unrestartable } = failingChecks(h);
    const rollback =
      CAN_SWITCH[host.transport.kind] &&
      planRollback({
        deployment: deployment.name,
        host: host.name,
        health: h,
        state,
        config,
        now,
        // A restart through a read-only transport cannot heal: nothing restartable for the rung either.
        restartable: CAN_RESTART[host.transport.kind] ? units : [],
        failing: Object.values(h.checks)
          .filter((c) => c.state === "failing")
          .map((c) => c.id)
          .sort(),
      });
    if (rollback) {
      if (shouldQuarantine(input, host.name, h, rollback.key)) {
        const q: Action = { kind: "quarantine", deployment: deployment.name, host: host.name };
        const why = `rollback did not heal within the budget (${rollback.reason})`;
        quarantines.push({ action: q, key: actionKey(q), reason: why, hosts: [host.name] });
      } else rollbacks.push({ ...rollback, hosts: [host.name] });
      continue;
    }
    for (const id of missing) redeployWhy.push(`${id} missing`);
    for (const id of unrestartable) redeployWhy.push(`${id} failing, no unit tied to it`);
    if (units.length > 0 && !CAN_RESTART[host.transport.kind]) {
      // Straight to the next rung: a restart through a read-only transport could only fail.
      redeployWhy.push(`${units.join(", ")} failing; the ${host.transport.kind} transport cannot restart`);
    } else if (units.length > 0) {
      const restart: Action = { kind: "restart", deployment: deployment.name, host: host.name, units };
      const key = actionKey(restart);
      const recent = inWindow(state.attempts[key], now, config.restartWindow);
      if (recent.length < config.restartAttempts) {
        restarts.push({ action: restart, key, reason: `${units.join(", ")} failing`, hosts: [host.name] });
      } else {
        redeployWhy.push(
          `${recent.length} restart(s) in ${formatDuration(config.restartWindow)} did not heal`,
        );
        const frees = Math.min(...recent) + config.restartWindow;
        requeueAt = requeueAt === undefined ? frees : Math.min(requeueAt, frees);
      }
    }
    if (redeployWhy.length === 0) continue;

    const redeploy = redeployFor(deployment, host);
    const key = actionKey(redeploy);
    const reason = redeployWhy.join("; ");
    if (shouldQuarantine(input, host.name, h, key)) {
      const q: Action = { kind: "quarantine", deployment: deployment.name, host: host.name };
      quarantines.push({
        action: q,
        key: actionKey(q),
        reason: `redeploy did not heal within the budget (${reason})`,
        hosts: [host.name],
      });
      continue;
    }
    const merged = redeploys.get(key);
    if (merged) {
      merged.hosts.push(host.name);
      merged.reason += `; ${host.name}: ${reason}`;
    } else {
      redeploys.set(key, { action: redeploy, key, reason: `${host.name}: ${reason}`, hosts: [host.name] });
    }
  }

  for (const p of redeploys.values())
    if (p.action.kind === "redeploy" && !p.action.host) p.reason += throughDeployment(deployment, p.hosts);
  const plan = [...quarantines, ...restarts, ...rollbacks, ...redeploys.values()];
  return requeueAt === undefined ? { plan } : { plan, requeueAfterMs: Math.max(0, requeueAt - now) };
}

/** What the failing checks of a host call for. */
function failingChecks(h: HostHealth): { units: string[]; missing: string[]; unrestartable: string[] } {
  const units = new Set<string>();
  const missing: string[] = [];
  const unrestartable: string[] = [];
  const checks = Object.values(h.checks);
  const looksActive = (unit: string): boolean => {
    const uc: CheckHealth | undefined = checks.find((c) => c.kind === "systemd" && c.id === unit);
    if (!uc) return true; // not checked on this host: nothing says it is down
    if (uc.missing) return false;
    return uc.activeState !== undefined ? uc.activeState === "active" : uc.state === "healthy";
  };
  for (const c of checks) {
    if (c.state !== "failing") continue;
    if (c.kind === "systemd") {
      if (c.missing) missing.push(c.id);
      // A timer whose service's last run failed: restarting the service runs it again.
      else for (const u of c.units ?? [c.id]) units.add(u);
      continue;
    }
    const tied = c.units ?? [];
    if (tied.length === 0) {
      unrestartable.push(c.id);
      continue;
    }
    // Units that are down fail their own systemd check; restart through the HTTP check only
    // when they all look up, i.e. the service runs but does not answer.
    if (tied.every(looksActive)) for (const u of tied) units.add(u);
  }
  return { units: [...units].sort(), missing: missing.sort(), unrestartable: unrestartable.sort() };
}

/**
 * The decision says when a host is redeployed through its deployment's target: the apply covers
 * every host of the deployment, not just the failing one (nixops4 applies composites only, and a
 * nixops4-nixos machine is a resource: a host rarely has an applicable target of its own).
 */
function throughDeployment(deployment: DeploymentSpec, hosts: readonly string[]): string {
  const target = deployment.target === "" ? "the whole root" : deployment.target;
  const who = hosts.length === 1 ? `${hosts[0]} has` : `${hosts.join(", ")} have`;
  return ` (${who} no nixops4 target of ${hosts.length === 1 ? "its" : "their"} own: redeploying deployment ${deployment.name}'s target ${target}, all its hosts)`;
}

/** The host's own nixops4 target when it has one, else the whole deployment. */
export function redeployFor(deployment: DeploymentSpec, host: HostSpec): Action {
  return host.ownTarget
    ? { kind: "redeploy", deployment: deployment.name, target: host.target, host: host.name }
    : { kind: "redeploy", deployment: deployment.name, target: deployment.target };
}

/**
 * Last rung: a redeploy covering this host was tried since it started failing (or within the
 * restart window, for a flapping host), and the budget allows no more. Already quarantined hosts are not quarantined again.
 */
function shouldQuarantine(input: ReconcileInput, host: string, h: HostHealth, redeployKey: string): boolean {
  const { state, config, now, deployment } = input;
  const active = activeQuarantines(state.quarantines, now);
  if (active.some((q) => q.deployment === deployment.name && (q.host === undefined || q.host === host))) {
    return false;
  }
  // A flapping host starts failing afresh every other cycle, so `since` alone would never see the
  // redeploy that did not heal it: a redeploy within the restart window counts too, as restarts do.
  const from = Math.min(h.since, now - config.restartWindow);
  const triedSinceFailing = (state.attempts[redeployKey] ?? []).some((t) => t >= from && t <= now);
  if (!triedSinceFailing) return false;
  return (
    budgetExhausted({ times: state.budget.deployment, ...config.budget.deployment }, now) ||
    budgetExhausted({ times: state.budget.global, ...config.budget.global }, now)
  );
}

const inWindow = (times: readonly number[] | undefined, now: number, window: number): number[] =>
  (times ?? []).filter((t) => t > now - window && t <= now);

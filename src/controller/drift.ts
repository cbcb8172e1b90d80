import { type Action, actionKey } from "../action.js";
import type { DeploymentSpec } from "../config/desired.js";
import type { PolicyState } from "./policy-state.js";
import type { HostHealth } from "./types.js";

/**
 * Drift: a host runs a system NixGuard did not put there. Only a change after one of NixGuard's
 * own applies counts (that is when the generation is recorded); hosts with an apply queued,
 * running or not yet re-observed are never drifted, since their system is NixGuard's doing.
 */
export function isDrifted(
  health: HostHealth | undefined,
  recorded: string | undefined,
  pending: boolean,
): boolean {
  if (pending || recorded === undefined || !health?.currentSystem) return false;
  if (health.state === "unreachable" || health.state === "unknown") return false;
  return health.currentSystem !== recorded;
}

export function driftedHosts(
  deployment: DeploymentSpec,
  health: ReadonlyMap<string, HostHealth>,
  state: Pick<PolicyState, "generations" | "generationPending">,
): string[] {
  return deployment.hosts
    .map((h) => h.name)
    .filter((name) =>
      isDrifted(health.get(name), state.generations[name], state.generationPending[name] !== undefined),
    );
}

/** Hosts whose system an apply of this action changes. */
export function hostsCoveredBy(action: Action, deployment: DeploymentSpec): string[] {
  if (action.kind === "rollback") return [action.host];
  if (action.kind !== "redeploy") return [];
  if (action.host !== undefined) return [action.host];
  return deployment.hosts.map((h) => h.name);
}

/**
 * A pending host's generation can be recorded from this observation: the apply finished
 * (pending > 0) and the system was read by a probe that started after it, so it saw the result.
 * Not the time of the last probe: one that could not reach the host (sshd restarting after the
 * switch) carries the old system over, and recording that would call the apply's own switch drift.
 */
export function generationToRecord(
  health: HostHealth,
  pendingFinishedAt: number | undefined,
): string | undefined {
  if (pendingFinishedAt === undefined || pendingFinishedAt === 0) return undefined;
  if (!health.currentSystem || health.systemAt === undefined) return undefined;
  return health.systemAt >= pendingFinishedAt ? health.currentSystem : undefined;
}

/** Hosts an action key is about: a restart's or host redeploy's host, or a deployment's hosts. */
export function hostsOfKey(spec: DeploymentSpec, key: string): string[] {
  for (const h of spec.hosts) {
    if (key === actionKey({ kind: "restart", deployment: spec.name, host: h.name, units: [] }))
      return [h.name];
    if (key === actionKey({ kind: "redeploy", deployment: spec.name, target: "", host: h.name }))
      return [h.name];
    if (key === actionKey({ kind: "rollback", deployment: spec.name, host: h.name, to: [] })) return [h.name];
  }
  const whole = { kind: "redeploy", deployment: spec.name, target: "" } as const;
  return key === actionKey(whole) ? hostsCoveredBy(whole, spec) : [];
}

/** Hosts that a redeploy or rollback still marked in flight will switch (its outcome records their system). */
export function hostsUnderRedeploy(spec: DeploymentSpec, inFlightKeys: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const key of inFlightKeys) {
    if (!key.startsWith("redeploy__") && !key.startsWith("rollback__")) continue;
    for (const h of hostsOfKey(spec, key)) out.add(h);
  }
  return out;
}

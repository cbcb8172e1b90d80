import type { HostSpec } from "../config/desired.js";
import type { Metrics } from "../metrics.js";
import { HOST_STATES, type HostHealth, type HostState } from "./types.js";

/**
 * Health into gauges. A check still unknown has no nixguard_check_up series rather than a made-up
 * value; a host counts as up when healthy or degraded.
 */
export function publishHealth(metrics: Metrics, health: HostHealth, spec: HostSpec): void {
  const { deployment, host } = health;
  const ids = [...spec.units.map((u) => u.id), ...spec.http.map((h) => h.id)];
  for (const check of ids) {
    const c = health.checks[check];
    const labels = { deployment, host, check };
    if (!c || c.state === "unknown") metrics.checkUp.remove(labels);
    else metrics.checkUp.set(labels, c.state === "healthy" ? 1 : 0);
    if (c?.tlsExpiresAt !== undefined) metrics.tlsExpiry.set(labels, c.tlsExpiresAt / 1000);
  }
  metrics.hostUp.set({ deployment, host }, health.state === "healthy" || health.state === "degraded" ? 1 : 0);
}

/** nixguard_hosts{state}: every state set, zeros included, so a state emptying shows as 0. */
export function publishHostCounts(metrics: Metrics, all: readonly HostHealth[]): void {
  const counts = new Map<HostState, number>(HOST_STATES.map((s) => [s, 0]));
  for (const h of all) counts.set(h.state, (counts.get(h.state) ?? 0) + 1);
  for (const [state, n] of counts) metrics.hosts.set({ state }, n);
}

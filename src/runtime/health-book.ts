import { type DesiredState, type HostSpec, hostKey } from "../config/desired.js";
import type { Config } from "../config/schema.js";
import { evaluateHost } from "../controller/health.js";
import { publishHealth, publishHostCounts } from "../controller/health-metrics.js";
import type { HostHealth } from "../controller/types.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { HostObservation } from "../probes/types.js";

export interface HealthBookOptions {
  getConfig: () => Config;
  metrics: Metrics;
  logger: Logger;
  /** Action in flight or settling for this deployment/host: failures are recorded, not counted. */
  isSuppressed: (deployment: string, host: string) => boolean;
  /** Judged health goes on to the controller (leader) and the event log. */
  onHealth: (health: HostHealth, prev: HostHealth | undefined) => void;
  now?: () => number;
}

/**
 * Observations in, judged health out: keeps each host's latest observation and health, runs the
 * pure evaluation with hysteresis, publishes the gauges. The one place health is kept in memory.
 */
export class HealthBook {
  private readonly health = new Map<string, HostHealth>();
  private readonly observations = new Map<string, HostObservation>();
  private readonly now: () => number;
  private countsDirty = false;
  private countsTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HealthBookOptions) {
    this.now = opts.now ?? Date.now;
  }

  observe(spec: HostSpec, obs: HostObservation): HostHealth {
    const key = hostKey(spec.deployment, spec.name);
    const prev = this.health.get(key);
    const probes = this.opts.getConfig().probes;
    const next = evaluateHost(prev, spec, obs, {
      now: this.now(),
      failureThreshold: probes.failureThreshold,
      successThreshold: probes.successThreshold,
      suppress: this.opts.isSuppressed(spec.deployment, spec.name),
      thresholds: probes.thresholds,
    });
    this.health.set(key, next);
    this.observations.set(key, obs);
    publishHealth(this.opts.metrics, next, spec);
    this.scheduleCounts();
    this.opts.onHealth(next, prev);
    return next;
  }

  get(deployment: string, host: string): HostHealth | undefined {
    return this.health.get(hostKey(deployment, host));
  }

  observation(deployment: string, host: string): HostObservation | undefined {
    return this.observations.get(hostKey(deployment, host));
  }

  all(): HostHealth[] {
    return [...this.health.values()];
  }

  /** Health of a host never observed yet: unknown since the book learned of it. */
  orUnknown(spec: HostSpec, since: number): HostHealth {
    return (
      this.get(spec.deployment, spec.name) ?? {
        deployment: spec.deployment,
        host: spec.name,
        state: "unknown",
        since,
        reasons: ["not observed yet"],
        checks: {},
      }
    );
  }

  /** Config reload: forget hosts no longer desired. Returns the removed ones. */
  retain(desired: DesiredState): { deployment: string; host: string }[] {
    const keep = new Set(desired.deployments.flatMap((d) => d.hosts.map((h) => hostKey(d.name, h.name))));
    const removed: { deployment: string; host: string }[] = [];
    for (const [key, h] of this.health) {
      if (keep.has(key)) continue;
      this.health.delete(key);
      this.observations.delete(key);
      removed.push({ deployment: h.deployment, host: h.host });
    }
    publishHostCounts(this.opts.metrics, this.all());
    return removed;
  }

  close(): void {
    if (this.countsTimer) clearTimeout(this.countsTimer);
    this.countsTimer = undefined;
  }

  // nixguard_hosts{state} counts the whole fleet: recount at most every 100 ms, not per probe
  // (10,000 hosts would make it quadratic).
  private scheduleCounts(): void {
    this.countsDirty = true;
    if (this.countsTimer) return;
    this.countsTimer = setTimeout(() => {
      this.countsTimer = undefined;
      if (!this.countsDirty) return;
      this.countsDirty = false;
      publishHostCounts(this.opts.metrics, this.all());
    }, 100);
    this.countsTimer.unref();
  }
}

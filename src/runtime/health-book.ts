import type { Series } from "../computed-gauge.js";
import { type DesiredState, type HostSpec, hostKey } from "../config/desired.js";
import type { Config } from "../config/schema.js";
import { evaluateHost } from "../controller/health.js";
import { healthMaxAge } from "../controller/health-age.js";
import {
  type CheckHealth,
  type HealthView,
  HOST_STATES,
  type HostHealth,
  type HostState,
  isBad,
} from "../controller/types.js";
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
 * pure evaluation with hysteresis, publishes the gauges. The one place health is kept in memory:
 * the controller plans from it (HealthView), the API reads it.
 */
export class HealthBook implements HealthView {
  private readonly health = new Map<string, HostHealth>();
  /** Keys of `health` whose state is bad (failing, unreachable): the breaker counts these. */
  private readonly badKeys = new Set<string>();
  private readonly observations = new Map<string, HostObservation>();
  /** The spec each host's health was judged against (a reload may change its checks). */
  private readonly specs = new Map<string, HostSpec>();
  private readonly now: () => number;
  /** Hosts per state, kept as health changes: the gauge never needs a walk over the fleet. */
  /** Hosts per deployment and state: nixguard_hosts{deployment,state}. */
  private readonly counts = new Map<string, Map<HostState, number>>();
  private countsDirty = false;
  private countsTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HealthBookOptions) {
    this.now = opts.now ?? Date.now;
    // The per-host gauges are read from here at each scrape, never stored (computed-gauge.ts).
    const { checkUp, hostUp, tlsExpiry } = opts.metrics;
    checkUp.from(() =>
      // A check still unknown has no series rather than a made-up value.
      this.checkSeries((c) => (c.state === "unknown" ? undefined : c.state === "healthy" ? 1 : 0)),
    );
    tlsExpiry.from(() =>
      this.checkSeries((c) => (c.tlsExpiresAt === undefined ? undefined : c.tlsExpiresAt / 1000)),
    );
    hostUp.from(() => this.hostSeries());
  }

  /**
   * One series per judged check of every host (in the order of the host's spec) whose value is
   * defined. A generator, so a scrape can stream the page and stop between hosts.
   */
  private *checkSeries(read: (c: CheckHealth) => number | undefined): Generator<Series> {
    for (const [key, health] of this.health) {
      const spec = this.specs.get(key);
      if (!spec) continue;
      const { deployment, host, checks } = health;
      for (const list of [spec.units, spec.http]) {
        for (const x of list) {
          const c = checks[x.id];
          const value = c && read(c);
          if (value !== undefined) yield { labels: [deployment, host, x.id], value };
        }
      }
    }
  }

  private *hostSeries(): Generator<Series> {
    for (const health of this.health.values()) {
      yield { labels: [health.deployment, health.host], value: up(health) ? 1 : 0 };
    }
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
      crashLoop: { restarts: probes.crashLoop.restarts, windowMs: probes.crashLoop.window },
    });
    this.observations.set(key, obs);
    this.record(spec, next, prev);
    return next;
  }

  /**
   * Health judged elsewhere, kept as if observed: the controller's tests drive the ladder with
   * judged health rather than raw observations.
   */
  judged(spec: HostSpec, next: HostHealth): void {
    this.record(spec, next, this.health.get(hostKey(spec.deployment, spec.name)));
  }

  private record(spec: HostSpec, next: HostHealth, prev: HostHealth | undefined): void {
    const key = hostKey(spec.deployment, spec.name);
    this.health.set(key, next);
    this.specs.set(key, spec);
    if (isBad(next.state)) this.badKeys.add(key);
    else this.badKeys.delete(key);
    if (prev?.state !== next.state) {
      if (prev) this.count(spec.deployment, prev.state, -1);
      this.count(spec.deployment, next.state, 1);
    }
    this.scheduleCounts();
    this.opts.onHealth(next, prev);
  }

  *bad(): Iterable<[string, HostHealth]> {
    for (const key of this.badKeys) {
      const h = this.health.get(key);
      if (h) yield [key, h];
    }
  }

  /**
   * Forgets every host last observed before `now - probes.maxHealthAge` (or never): they are
   * `unknown` until observed again, so nothing acts on them. Called when this process starts to
   * lead: while it did not, it probed nothing, and what it remembers may be hours old. Returns
   * how many were forgotten.
   */
  forgetStale(now: number): number {
    const oldest = now - healthMaxAge(this.opts.getConfig().probes);
    let n = 0;
    for (const [key, h] of this.health) {
      if ((h.lastObservedAt ?? Number.NEGATIVE_INFINITY) >= oldest) continue;
      this.drop(key, h);
      n++;
    }
    if (n > 0) this.publishCounts();
    return n;
  }

  private drop(key: string, h: HostHealth): void {
    this.health.delete(key);
    this.badKeys.delete(key);
    this.count(h.deployment, h.state, -1);
    this.observations.delete(key);
    this.specs.delete(key);
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

  /** Config reload: forget hosts no longer desired. */
  retain(desired: DesiredState): void {
    const keep = new Set(desired.deployments.flatMap((d) => d.hosts.map((h) => hostKey(d.name, h.name))));
    for (const [key, h] of this.health) if (!keep.has(key)) this.drop(key, h);
    // A deployment the reload removed loses its series; every kept one shows all states.
    const names = new Set(desired.deployments.map((d) => d.name));
    for (const deployment of this.counts.keys()) {
      if (names.has(deployment)) continue;
      this.counts.delete(deployment);
      for (const state of HOST_STATES) this.opts.metrics.hosts.remove({ deployment, state });
    }
    for (const deployment of names) this.countsOf(deployment);
    this.publishCounts();
  }

  close(): void {
    if (this.countsTimer) clearTimeout(this.countsTimer);
    this.countsTimer = undefined;
  }

  private countsOf(deployment: string): Map<HostState, number> {
    let c = this.counts.get(deployment);
    if (!c) {
      c = new Map(HOST_STATES.map((st) => [st, 0]));
      this.counts.set(deployment, c);
    }
    return c;
  }

  private count(deployment: string, state: HostState, by: number): void {
    const c = this.countsOf(deployment);
    c.set(state, (c.get(state) ?? 0) + by);
  }

  /**
   * nixguard_hosts{deployment,state}: every state set, zeros included, so a state emptying shows
   * as 0; per deployment so the dashboard's deployment filter applies (issue 19).
   */
  private publishCounts(): void {
    for (const [deployment, c] of this.counts)
      for (const [state, n] of c) this.opts.metrics.hosts.set({ deployment, state }, n);
  }

  // nixguard_hosts counts the whole fleet: recount at most every 100 ms, not per probe
  // (10,000 hosts would make it quadratic).
  private scheduleCounts(): void {
    this.countsDirty = true;
    if (this.countsTimer) return;
    this.countsTimer = setTimeout(() => {
      this.countsTimer = undefined;
      if (!this.countsDirty) return;
      this.countsDirty = false;
      this.publishCounts();
    }, 100);
    this.countsTimer.unref();
  }
}

const up = (h: HostHealth) => h.state === "healthy" || h.state === "degraded";

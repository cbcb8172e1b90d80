import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ActionOutcomeKind } from "./action.js";
import { ComputedGauge } from "./computed-gauge.js";
import { BLOCK_REASONS } from "./controller/types.js";

/**
 * Every metric NixGuard exports, declared here and nowhere else (controller-runtime's habit).
 * Labels are bounded: deployment, host, check, state, reason, kind, outcome — never error text,
 * job ids or URLs. Series whose label sets are known up front are created at construction.
 */
export const PROBE_KINDS = ["systemd", "http", "host"] as const;
export const PROBE_RESULTS = ["ok", "fail", "error", "timeout", "skipped"] as const;
export const ACTION_KINDS = ["restart", "redeploy", "quarantine", "rollback"] as const;
/** Every ActionOutcomeKind (src/action.ts): the outcome label's values and the API schema's enum. */
export const ACTION_OUTCOMES = [
  "success",
  "failed",
  "usage-error",
  "panic",
  "timeout",
  "not-found",
  "unreachable",
  "cancelled",
] as const satisfies readonly ActionOutcomeKind[];
/** What the leader does with an observation read from the probing stream. */
export const STREAM_RESULTS = ["accepted", "old", "duplicate", "unknown"] as const;
export type StreamResult = (typeof STREAM_RESULTS)[number];
export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;

/** prom-client default metrics that `promtool check metrics` flags (gauges named `_total`). */
const PROMTOOL_REFUSED_DEFAULTS = [
  "nixguard_nodejs_active_handles_total",
  "nixguard_nodejs_active_requests_total",
  "nixguard_nodejs_active_resources_total",
];

export interface MetricsOptions {
  version: string;
  /** Node's process metrics; tests building many registries turn them off. */
  processMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions) {
  const registry = new Registry();
  if (opts.processMetrics !== false) {
    // Prefixed so they cannot clash with another exporter's series on the same scrape.
    collectDefaultMetrics({ register: registry, prefix: "nixguard_" });
    // promtool check metrics refuses "_total" on gauges; the per-type gauges without the suffix stay.
    for (const name of PROMTOOL_REFUSED_DEFAULTS) registry.removeSingleMetric(name);
  }
  const m = {
    registry,
    buildInfo: new Gauge({
      name: "nixguard_build_info",
      help: "NixGuard build information.",
      labelNames: ["version"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "nixguard_leader",
      help: "1 when this process holds the controller lease.",
      registers: [registry],
    }),
    probesTotal: new Counter({
      name: "nixguard_probes_total",
      help: "Probes run, by deployment, kind and result.",
      labelNames: ["deployment", "kind", "result"],
      registers: [registry],
    }),
    probeMembers: new Gauge({
      name: "nixguard_probe_members",
      help: "Probing processes alive in this process's view of the membership (0 when it probes nothing shared).",
      registers: [registry],
    }),
    probeHostsAssigned: new Gauge({
      name: "nixguard_probe_hosts_assigned",
      help: "Hosts each live probing member probes, by member id (this process's view).",
      labelNames: ["member"],
      registers: [registry],
    }),
    probeObservationsPublished: new Counter({
      name: "nixguard_probe_observations_published_total",
      help: "Observations this process published to the leader through the Redis stream.",
      registers: [registry],
    }),
    probeObservationsReceived: new Counter({
      name: "nixguard_probe_observations_received_total",
      help: "Observations the leader read from the stream, by what it did with them: accepted, old (older than probes.maxHealthAge), duplicate (not newer than the host's last), unknown (host or checks not in its config).",
      labelNames: ["result"],
      registers: [registry],
    }),
    probeDuration: new Histogram({
      name: "nixguard_probe_duration_seconds",
      help: "Duration of probes, by deployment and kind.",
      labelNames: ["deployment", "kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    // Per host and check: computed from the health book at each scrape (runtime/health-book.ts
    // is their source), not stored; a check still unknown has no series.
    checkUp: computed(
      registry,
      new ComputedGauge(
        "nixguard_check_up",
        "1 when the check is healthy after hysteresis, 0 when failing.",
        ["deployment", "host", "check"],
      ),
    ),
    hostUp: computed(
      registry,
      new ComputedGauge("nixguard_host_up", "1 when the host is healthy or degraded, 0 otherwise.", [
        "deployment",
        "host",
      ]),
    ),
    hosts: new Gauge({
      name: "nixguard_hosts",
      help: "Hosts by deployment and state.",
      labelNames: ["deployment", "state"],
      registers: [registry],
    }),
    tlsExpiry: computed(
      registry,
      new ComputedGauge(
        "nixguard_http_tls_expiry_timestamp_seconds",
        "Expiry of the leaf TLS certificate seen by an HTTP check.",
        ["deployment", "host", "check"],
      ),
    ),
    actionsTotal: new Counter({
      name: "nixguard_actions_total",
      help: "Remediation actions by outcome.",
      labelNames: ["deployment", "action", "outcome"],
      registers: [registry],
    }),
    actionsBlockedTotal: new Counter({
      name: "nixguard_actions_blocked_total",
      help: "Planned actions a policy gate blocked, by deployment and gate.",
      labelNames: ["deployment", "reason"],
      registers: [registry],
    }),
    fencedWrites: new Counter({
      name: "nixguard_fenced_writes_total",
      help: "Writes Redis refused for a stale fencing token: by a planning pass (each refusal ends it) or a job the worker refused.",
      labelNames: ["by"],
      registers: [registry],
    }),
    deployDuration: new Histogram({
      name: "nixguard_deploy_duration_seconds",
      help: "Duration of nixops4 apply runs.",
      labelNames: ["deployment", "outcome"],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers: [registry],
    }),
    lastDeploySuccess: new Gauge({
      name: "nixguard_last_deploy_success_timestamp_seconds",
      help: "Time of the last successful nixops4 apply.",
      labelNames: ["deployment"],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: "nixguard_queue_jobs",
      help: "Action jobs by state.",
      labelNames: ["state"],
      registers: [registry],
    }),
    breakerOpen: new Gauge({
      name: "nixguard_breaker_open",
      help: "1 while the circuit breaker holds all remediation.",
      registers: [registry],
    }),
    paused: new Gauge({
      name: "nixguard_paused",
      help: "1 while remediation is paused in this scope.",
      labelNames: ["scope"],
      registers: [registry],
    }),
    quarantined: new Gauge({
      name: "nixguard_quarantined",
      help: '1 while the host (or whole deployment, host="") is quarantined.',
      labelNames: ["deployment", "host"],
      registers: [registry],
    }),
    held: new Gauge({
      name: "nixguard_held",
      help: "1 while the host is held at the generation NixGuard rolled it back to.",
      labelNames: ["deployment", "host"],
      registers: [registry],
    }),
    drift: new Gauge({
      name: "nixguard_drift",
      help: "1 while the host runs a system NixGuard did not deploy.",
      labelNames: ["deployment", "host"],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "nixguard_reconcile_duration_seconds",
      help: "Duration of one reconcile of one deployment.",
      labelNames: ["deployment"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    nodeResourceUsedRatio: new Gauge({
      name: "nixguard_self_resource_used_ratio",
      help: "NixGuard host's own resource use (memory, state and /nix/store filesystems).",
      labelNames: ["resource"],
      registers: [registry],
    }),
    nodeLoad1: new Gauge({
      name: "nixguard_self_load1",
      help: "NixGuard host's 1-minute load average.",
      registers: [registry],
    }),
  };
  m.buildInfo.set({ version: opts.version }, 1);
  m.leader.set(0);
  m.probeMembers.set(0);
  for (const result of STREAM_RESULTS) m.probeObservationsReceived.inc({ result }, 0);
  m.breakerOpen.set(0);
  for (const state of QUEUE_STATES) m.queueJobs.set({ state }, 0);
  m.paused.set({ scope: "global" }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Creates each deployment's outcome series at 0 (at start and when a reload adds one): an
 * `increase()` over a series that appears with its first failure sees nothing, so DeployFailing
 * missed the first failed apply (issue 19). The label values are the config's, so bounded.
 */
export function initDeploymentSeries(m: Metrics, deployments: readonly string[]): void {
  for (const deployment of deployments) {
    for (const kind of PROBE_KINDS) {
      m.probeDuration.zero({ deployment, kind });
      for (const result of PROBE_RESULTS) m.probesTotal.inc({ deployment, kind, result }, 0);
    }
    for (const outcome of ACTION_OUTCOMES) {
      m.deployDuration.zero({ deployment, outcome });
      for (const action of ["restart", "redeploy", "rollback"] as const)
        m.actionsTotal.inc({ deployment, action, outcome }, 0);
    }
    m.actionsTotal.inc({ deployment, action: "quarantine", outcome: "success" }, 0);
    m.reconcileDuration.zero({ deployment });
    for (const reason of BLOCK_REASONS) m.actionsBlockedTotal.inc({ deployment, reason }, 0);
  }
}

/** A reload removed the deployment: its per-deployment series go too. */
export function forgetDeploymentSeries(m: Metrics, deployment: string): void {
  // prom-client removes one exact label set at a time.
  for (const outcome of ACTION_OUTCOMES) {
    m.deployDuration.remove({ deployment, outcome });
    for (const action of ACTION_KINDS) m.actionsTotal.remove({ deployment, action, outcome });
  }
  m.lastDeploySuccess.remove({ deployment });
  m.reconcileDuration.remove({ deployment });
  for (const kind of PROBE_KINDS) {
    m.probeDuration.remove({ deployment, kind });
    for (const result of PROBE_RESULTS) m.probesTotal.remove({ deployment, kind, result });
  }
  for (const reason of BLOCK_REASONS) m.actionsBlockedTotal.remove({ deployment, reason });
}

/**
 * Removes the stored series of one host (config reload removed it): no stale series linger. Its
 * computed series go with it when the health book forgets the host.
 */
export function forgetHost(m: Metrics, deployment: string, host: string): void {
  for (const g of [m.quarantined, m.drift]) g.remove({ deployment, host });
}

function computed(registry: Registry, gauge: ComputedGauge): ComputedGauge {
  // prom-client accepts any object with its metric interface (name, help, type, get, reset).
  registry.registerMetric(gauge as unknown as Parameters<Registry["registerMetric"]>[0]);
  return gauge;
}

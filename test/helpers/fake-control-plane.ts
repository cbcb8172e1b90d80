import { EventEmitter, on } from "node:events";
import { type Action, type ActionOutcomeKind, actionKey } from "../../src/action.js";
import type {
  CommandContext,
  CommandResult,
  ControlPlane,
  DeploymentDetail,
  DeploymentSummary,
  EventQuery,
  FleetStatus,
  HostDetail,
  HostFilter,
  HostGenerationsInfo,
  HostRef,
  JobFilter,
  JobInfo,
  LogLine,
  PauseInfo,
  PauseRequest,
  PauseScope,
  Readiness,
  ReconcileRequest,
  ReconcileResult,
  ReleaseResult,
  ReloadResult,
  ResetResult,
  ResumeRequest,
  ResumeResult,
} from "../../src/api/control-plane-port.js";
import { ConflictError, NotFoundError } from "../../src/api/control-plane-port.js";
import { formatScope } from "../../src/api/scope.js";
import {
  HOST_STATES,
  type HostHealth,
  type HostState,
  type NixGuardEvent,
} from "../../src/controller/types.js";
import { NixGuardError } from "../../src/errors.js";
import type { HostObservation } from "../../src/probes/types.js";

/**
 * An in-memory ControlPlane for API and CLI tests and benchmarks: a fleet of `deployments ×
 * hosts × checks`, jobs whose logs tests append to while a client follows them, and the gates
 * (pause, maintenance, quarantine) the real one applies. Every command is recorded in `calls`.
 */
export interface FakeFleet {
  deployments: Record<string, string[]>;
  /** systemd checks per host, named unit0.service ... */
  checks?: number;
  now?: number;
}

const hk = (d: string, h: string) => `${d}/${h}`;
const zeroCounts = () => Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>;

export class FakeControlPlane implements ControlPlane {
  readonly calls: { method: string; args: unknown[]; ctx?: CommandContext }[] = [];
  readonly health = new Map<string, HostHealth>();
  readonly jobsById = new Map<string, JobInfo>();
  readonly logs = new Map<string, LogLine[]>();
  readonly eventLog: NixGuardEvent[] = [];
  readonly pauses: PauseInfo[] = [];
  readonly maintenance = new Set<string>();
  readonly quarantined = new Set<string>();
  /** Keys whose commands answer 409 already-running. */
  readonly busy = new Set<string>();
  readiness_: Readiness = { configLoaded: true, redis: true, leaderKnown: true };
  /** Every call throws REDIS_UNAVAILABLE, as the real one does when Redis is down. */
  redisDown = false;
  reloadResult: ReloadResult = { ok: true, deployments: 1, hosts: 1 };
  private readonly emitter = new EventEmitter();
  private nextJob = 1;
  private readonly deploymentHosts: Record<string, string[]>;

  constructor(fleet: FakeFleet) {
    this.emitter.setMaxListeners(0);
    this.deploymentHosts = fleet.deployments;
    const now = fleet.now ?? Date.now();
    for (const [d, hosts] of Object.entries(fleet.deployments)) {
      for (const h of hosts) {
        const checks: HostHealth["checks"] = {};
        for (let i = 0; i < (fleet.checks ?? 2); i++) {
          const id = `unit${i}.service`;
          checks[id] = {
            id,
            kind: "systemd",
            state: "healthy",
            since: now,
            lastObservedAt: now,
            reason: "active (running)",
            consecutiveFailures: 0,
            consecutiveSuccesses: 3,
            activeState: "active",
          };
        }
        this.health.set(hk(d, h), {
          deployment: d,
          host: h,
          state: "healthy",
          since: now,
          reasons: [],
          checks,
          lastObservedAt: now,
        });
      }
    }
  }

  private gate(method: string, args: unknown[], ctx?: CommandContext): void {
    this.calls.push({ method, args, ...(ctx ? { ctx } : {}) });
    if (this.redisDown)
      throw new NixGuardError("REDIS_UNAVAILABLE", "Redis unreachable (connection refused)");
  }

  private resolveHost(ref: HostRef): HostHealth {
    const matches = [...this.health.values()].filter(
      (h) => h.host === ref.host && (ref.deployment === undefined || h.deployment === ref.deployment),
    );
    if (matches.length === 0)
      throw new NotFoundError("host", ref.deployment ? hk(ref.deployment, ref.host) : ref.host);
    if (matches.length > 1)
      throw new NixGuardError("USAGE", `host "${ref.host}" exists in several deployments; pass deployment`);
    return matches[0]!;
  }

  private requireDeployment(name: string): void {
    if (!this.deploymentHosts[name]) throw new NotFoundError("deployment", name);
  }

  private blockers(deployment: string, host: string | undefined, ctx: CommandContext): void {
    const paused = this.pauses.some(
      (p) =>
        p.scope.kind === "global" ||
        (p.scope.kind === "deployment" && p.scope.deployment === deployment) ||
        (p.scope.kind === "host" && host !== undefined && p.scope.host === host),
    );
    if (!ctx.force && paused)
      throw new ConflictError("paused", `remediation of ${deployment} is paused (use force)`);
    if (!ctx.force && (this.maintenance.has(deployment) || this.maintenance.has("*")))
      throw new ConflictError("maintenance", `${deployment} is in a maintenance window (use force)`);
    if (this.quarantined.has(host ? hk(deployment, host) : deployment))
      throw new ConflictError("quarantined", `${host ?? deployment} is quarantined; reset it first`);
  }

  private enqueue(action: Action, ctx: CommandContext): CommandResult {
    const key = actionKey(action);
    if (this.busy.has(key)) throw new ConflictError("already-running", `${key} is already running`);
    const existing = [...this.jobsById.values()].find(
      (j) => j.key === key && (j.state === "waiting" || j.state === "active"),
    );
    if (existing)
      return {
        key,
        jobId: existing.id,
        state: existing.state === "waiting" ? "coalesced" : "rerun-scheduled",
      };
    const id = String(this.nextJob++);
    this.jobsById.set(id, {
      id,
      key,
      state: "waiting",
      action,
      actor: ctx.actor,
      reason: "manual",
      requestedAt: Date.now(),
    });
    this.logs.set(id, []);
    this.eventLog.push({
      time: Date.now(),
      kind: "action",
      deployment: action.deployment,
      action: action.kind,
      jobId: id,
      actor: ctx.actor,
    });
    return { key, jobId: id, state: "added" };
  }

  // ---- test drivers ----
  setHostState(deployment: string, host: string, state: HostState, failingCheck?: string): void {
    const h = this.health.get(hk(deployment, host))!;
    h.state = state;
    if (failingCheck && h.checks[failingCheck]) {
      h.checks[failingCheck] = { ...h.checks[failingCheck]!, state: "failing", reason: "failed (exit-code)" };
      h.reasons = [`${failingCheck} failed`];
    }
  }
  startJob(id: string): void {
    this.jobsById.get(id)!.state = "active";
  }
  appendLog(id: string, text: string, stream: LogLine["stream"] = "stdout"): void {
    const line = { time: Date.now(), stream, text };
    this.logs.get(id)!.push(line);
    this.emitter.emit(`log:${id}`, line);
  }
  /** The command ended and its log is closed; the job is not finished yet (the worker re-probes). */
  closeLog(id: string): void {
    this.emitter.emit(`end:${id}`);
  }
  finishJob(id: string, outcome: ActionOutcomeKind): void {
    const job = this.jobsById.get(id)!;
    Object.assign(job, {
      state: outcome === "success" ? "completed" : "failed",
      outcome,
      finishedAt: Date.now(),
      message: outcome,
    });
    this.emitter.emit(`end:${id}`);
  }

  // ---- reads ----
  async status(): Promise<FleetStatus> {
    this.gate("status", []);
    const hosts = zeroCounts();
    for (const h of this.health.values()) hosts[h.state]++;
    const queue = { waiting: 0, active: 0, delayed: 0, failed: 0 };
    for (const j of this.jobsById.values()) if (j.state !== "completed") queue[j.state]++;
    return {
      version: "0.0.0-test",
      mode: "enforce",
      leader: { known: this.readiness_.leaderKnown, self: true, id: "fake" },
      pauses: this.pauses,
      breaker: { open: false, unhealthyFraction: 0 },
      maintenance: [...this.maintenance].map((d) =>
        d === "*" ? { until: Date.now() + 3_600_000 } : { deployment: d, until: Date.now() + 3_600_000 },
      ),
      quarantined: [...this.quarantined].map((k) => {
        const [deployment, host] = k.split("/");
        return { deployment: deployment!, ...(host ? { host } : {}), since: Date.now() };
      }),
      hosts,
      queue,
    };
  }
  private summary(name: string): DeploymentSummary {
    const hosts = zeroCounts();
    for (const h of this.health.values()) if (h.deployment === name) hosts[h.state]++;
    return {
      name,
      target: name,
      flake: `/srv/${name}`,
      hosts,
      paused: this.pauses.some((p) => p.scope.kind === "deployment" && p.scope.deployment === name),
      quarantined: this.quarantined.has(name),
    };
  }
  async deployments(): Promise<DeploymentSummary[]> {
    this.gate("deployments", []);
    return Object.keys(this.deploymentHosts).map((d) => this.summary(d));
  }
  async deployment(name: string): Promise<DeploymentDetail> {
    this.gate("deployment", [name]);
    this.requireDeployment(name);
    return {
      ...this.summary(name),
      hostHealth: [...this.health.values()].filter((h) => h.deployment === name),
    };
  }
  async hosts(filter: HostFilter): Promise<HostHealth[]> {
    this.gate("hosts", [filter]);
    return [...this.health.values()].filter(
      (h) =>
        (!filter.state || h.state === filter.state) &&
        (!filter.deployment || h.deployment === filter.deployment),
    );
  }
  async host(ref: HostRef): Promise<HostDetail> {
    this.gate("host", [ref]);
    const health = this.resolveHost(ref);
    return {
      health,
      address: `${health.host}.test`,
      target: health.deployment,
      services: [],
      paused: false,
      quarantined: this.quarantined.has(hk(health.deployment, health.host)),
      drift: false,
    };
  }
  async jobs(filter: JobFilter): Promise<JobInfo[]> {
    this.gate("jobs", [filter]);
    return [...this.jobsById.values()]
      .filter((j) => !filter.state || j.state === filter.state)
      .reverse()
      .slice(0, filter.limit ?? 100);
  }
  async job(id: string): Promise<JobInfo> {
    this.gate("job", [id]);
    const job = this.jobsById.get(id);
    if (!job) throw new NotFoundError("job", id);
    return job;
  }
  async *jobLog(id: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const job = await this.job(id);
    const lines = this.logs.get(id) ?? [];
    let sent = 0;
    for (; sent < lines.length; sent++) yield lines[sent]!;
    if (!opts.follow || job.state === "completed" || job.state === "failed") return;
    // Lines and the end arrive as events; `on` buffers them so none is lost between yields.
    const ended = new AbortController();
    const onEnd = () => ended.abort();
    this.emitter.once(`end:${id}`, onEnd);
    const signal = AbortSignal.any([opts.signal, ended.signal]);
    try {
      for await (const [line] of on(this.emitter, `log:${id}`, { signal })) yield line as LogLine;
    } catch (e) {
      if ((e as Error).name !== "AbortError") throw e;
    } finally {
      this.emitter.off(`end:${id}`, onEnd);
    }
  }
  async events(query: EventQuery): Promise<NixGuardEvent[]> {
    this.gate("events", [query]);
    return this.eventLog
      .filter(
        (e) =>
          (query.since === undefined || e.time >= query.since) &&
          (!query.deployment || e.deployment === query.deployment) &&
          (!query.host || e.host === query.host),
      )
      .slice(-query.limit);
  }

  // ---- commands ----
  async reconcile(req: ReconcileRequest, ctx: CommandContext): Promise<ReconcileResult> {
    this.gate("reconcile", [req], ctx);
    const names = req.deployments ?? Object.keys(this.deploymentHosts);
    for (const d of names) this.requireDeployment(d);
    const actions: ReconcileResult["actions"] = [];
    for (const h of this.health.values()) {
      if (!names.includes(h.deployment) || h.state !== "failing") continue;
      const units = Object.values(h.checks)
        .filter((c) => c.state === "failing")
        .map((c) => c.id);
      const action: Action = { kind: "restart", deployment: h.deployment, host: h.host, units };
      if (req.dryRun) actions.push({ key: actionKey(action), action, decision: "planned" });
      else {
        const r = this.enqueue(action, ctx);
        actions.push({ key: r.key, action, decision: "enqueued", jobId: r.jobId, enqueue: r.state });
      }
    }
    return { dryRun: req.dryRun === true, deployments: names, actions };
  }
  async redeploy(deployment: string, ctx: CommandContext): Promise<CommandResult> {
    this.gate("redeploy", [deployment], ctx);
    this.requireDeployment(deployment);
    this.blockers(deployment, undefined, ctx);
    return this.enqueue({ kind: "redeploy", deployment, target: deployment }, ctx);
  }
  async probeHost(ref: HostRef, ctx: CommandContext): Promise<HostObservation> {
    this.gate("probeHost", [ref], ctx);
    const h = this.resolveHost(ref);
    return {
      deployment: h.deployment,
      host: h.host,
      at: Date.now(),
      durationMs: 12,
      reachable: true,
      facts: { units: {}, disks: [] },
      http: [],
    };
  }
  async restartUnit(ref: HostRef, unit: string, ctx: CommandContext): Promise<CommandResult> {
    this.gate("restartUnit", [ref, unit], ctx);
    const h = this.resolveHost(ref);
    if (!h.checks[unit]) throw new NotFoundError("unit", unit);
    this.blockers(h.deployment, h.host, ctx);
    return this.enqueue({ kind: "restart", deployment: h.deployment, host: h.host, units: [unit] }, ctx);
  }
  async pause(req: PauseRequest, ctx: CommandContext): Promise<PauseInfo> {
    this.gate("pause", [req], ctx);
    this.checkScope(req.scope);
    const info: PauseInfo = {
      scope: req.scope,
      reason: req.reason,
      actor: ctx.actor,
      since: Date.now(),
      ...(req.until ? { until: req.until } : {}),
    };
    this.pauses.push(info);
    this.eventLog.push({ time: info.since, kind: "pause", reason: req.reason, actor: ctx.actor });
    return info;
  }
  async resume(req: ResumeRequest, ctx: CommandContext): Promise<ResumeResult> {
    this.gate("resume", [req], ctx);
    const i = this.pauses.findIndex((p) => formatScope(p.scope) === formatScope(req.scope));
    if (i < 0) throw new NotFoundError("pause", formatScope(req.scope));
    const [resumed] = this.pauses.splice(i, 1);
    return { resumed: resumed! };
  }
  private checkScope(scope: PauseScope): void {
    if (scope.kind === "deployment") this.requireDeployment(scope.deployment);
    if (scope.kind === "host") this.resolveHost(scope);
  }
  async resetHost(ref: HostRef, ctx: CommandContext): Promise<ResetResult> {
    this.gate("resetHost", [ref], ctx);
    const h = this.resolveHost(ref);
    // As the controller: only what was there is cleared (the fake keeps no backoff or budget).
    return { cleared: this.quarantined.delete(hk(h.deployment, h.host)) ? ["quarantine"] : [] };
  }
  /** Generation memory per host key (deployment/host), as tests set it. */
  readonly generationsOf = new Map<string, HostGenerationsInfo>();
  async generations(ref: HostRef): Promise<HostGenerationsInfo> {
    this.gate("generations", [ref]);
    const h = this.resolveHost(ref);
    return (
      this.generationsOf.get(hk(h.deployment, h.host)) ?? {
        deployment: h.deployment,
        host: h.host,
        generations: [],
      }
    );
  }
  async rollback(ref: HostRef, to: string | number | undefined, ctx: CommandContext): Promise<CommandResult> {
    this.gate("rollback", [ref, to], ctx);
    const h = this.resolveHost(ref);
    this.blockers(h.deployment, h.host, ctx);
    const action =
      typeof to === "number"
        ? { kind: "rollback" as const, deployment: h.deployment, host: h.host, to: [], toGeneration: to }
        : {
            kind: "rollback" as const,
            deployment: h.deployment,
            host: h.host,
            to: to === undefined ? [] : [to],
          };
    return this.enqueue(action, ctx);
  }
  async release(ref: HostRef, ctx: CommandContext): Promise<ReleaseResult> {
    this.gate("release", [ref], ctx);
    const h = this.resolveHost(ref);
    const info = this.generationsOf.get(hk(h.deployment, h.host));
    if (!info?.hold) throw new NixGuardError("NOT_FOUND", `${h.deployment}/${h.host} is not held`);
    const { hold, ...rest } = info;
    this.generationsOf.set(hk(h.deployment, h.host), rest);
    return { released: hold };
  }
  async resetDeployment(deployment: string, ctx: CommandContext): Promise<ResetResult> {
    this.gate("resetDeployment", [deployment], ctx);
    this.requireDeployment(deployment);
    return { cleared: this.quarantined.delete(deployment) ? ["quarantine"] : [] };
  }
  async reloadConfig(ctx: CommandContext): Promise<ReloadResult> {
    this.gate("reloadConfig", [], ctx);
    return this.reloadResult;
  }
  async readiness(): Promise<Readiness> {
    if (this.redisDown) return { ...this.readiness_, redis: false };
    return this.readiness_;
  }
}

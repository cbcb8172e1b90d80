import type { Job, JobType } from "bullmq";
import type { Action, ActionJobData, ActionOutcome } from "../action.js";
import {
  type CommandContext,
  type CommandResult,
  ConflictError,
  type ConflictReason,
  type ControlPlane,
  type DeploymentDetail,
  type DeploymentSummary,
  type EventQuery,
  type FleetStatus,
  type HostDetail,
  type HostFilter,
  type HostGenerationsInfo,
  type HostRef,
  type JobFilter,
  type JobInfo,
  type LogLine,
  NotFoundError,
  type PauseInfo,
  type PauseRequest,
  type PauseScope,
  type ProbingStatus,
  type Readiness,
  type ReconcileRequest,
  type ReconcileResult,
  type ReleaseResult,
  type ReloadResult,
  type ResetResult,
  type ResumeRequest,
  type ResumeResult,
  type SelfStatus,
} from "../api/control-plane-port.js";
import { type DeploymentSpec, type HostSpec, hostKey } from "../config/desired.js";
import { hostsNamed } from "../config/host-index.js";
import type { LoadedConfig } from "../config/load.js";
import type { Decision } from "../controller/controller.js";
import type { ControllerStatus } from "../controller/controller-status.js";
import type { HostGenerations } from "../controller/generations.js";
import { selfReasons } from "../controller/health.js";
import type { HoldEntry } from "../controller/hold.js";
import type { Pause } from "../controller/policy/index.js";
import { activePauses } from "../controller/policy/pause.js";
import { activeQuarantines } from "../controller/policy/quarantine.js";
import type { PauseScope as PolicyScope } from "../controller/policy/types.js";
import type { PolicyRecords } from "../controller/policy-mirror.js";
import {
  type BlockReason,
  HOST_STATES,
  type HostHealth,
  type HostState,
  type NixGuardEvent,
} from "../controller/types.js";
import type { ConfigIssue } from "../errors.js";
import { isApplyProgress } from "../nixops4/progress.js";
import type { Nixops4DeploymentStatus } from "../nixops4/start-discovery.js";
import type { SelfResources } from "../probes/self.js";
import type { HostObservation } from "../probes/types.js";
import { keyOfJobId } from "../queue/job-id.js";
import type { JobLogStore } from "../queue/job-log.js";
import { parseRecord } from "../queue/log-record.js";
import type { ActionQueue, QueueState } from "../queue/types.js";
import { VERSION } from "../version.js";
import { HostDetailMemo } from "./host-detail.js";

const CONFLICT_OF: Partial<Record<BlockReason, ConflictReason>> = {
  mode: "paused",
  paused: "paused",
  maintenance: "maintenance",
  breaker: "breaker",
  quarantine: "quarantined",
  inflight: "already-running",
};

/** The controller's commands and status, as the API uses them (Controller implements it). */
export interface ControllerCommands {
  status(): Promise<ControllerStatus>;
  reconcile(deployment: string, opts: { dryRun?: boolean; actor?: string }): Promise<{ actions: Decision[] }>;
  requestAction(action: Action, opts: { actor: string; force?: boolean }): Promise<Decision>;
  requestRollback(
    deployment: string,
    host: string,
    to: string | number | undefined,
    opts: { actor: string; force?: boolean },
  ): Promise<Decision>;
  generations(deployment: string, host: string): Promise<{ memory: HostGenerations; hold?: HoldEntry }>;
  release(deployment: string, host: string, actor: string): Promise<HoldEntry>;
  pause(scope: PolicyScope, reason: string, actor: string, until?: number): Promise<Pause>;
  resume(scope: PolicyScope, actor: string): Promise<Pause>;
  reset(scope: PolicyScope, actor: string): Promise<ResetResult>;
}

/** Judged health as the API reads it (HealthBook implements it). */
export interface HealthReader {
  orUnknown(spec: HostSpec, since: number): HostHealth;
  observation(deployment: string, host: string): HostObservation | undefined;
}

/** The action queue as the API reads it (BullActionQueue implements it). */
export interface JobReader extends Pick<ActionQueue, "counts"> {
  getJobs(types: JobType[], start: number, end: number): Promise<Job<ActionJobData>[]>;
  getJob(id: string): Promise<Job<ActionJobData> | undefined>;
}

/**
 * What the adapter needs, each part as narrow as its use: the composition root (manager.ts)
 * hands these over; the adapter never sees the Manager or reaches into its fields.
 */
export interface ControlPlaneDeps {
  config: () => LoadedConfig;
  controller: ControllerCommands;
  health: HealthReader;
  jobs: JobReader;
  /** Job logs in Redis (any process's worker writes them). */
  logs: JobLogStore;
  store: { policyRecords(): Promise<PolicyRecords> };
  events: {
    list(query: EventQuery): Promise<NixGuardEvent[]>;
    append(e: NixGuardEvent): Promise<unknown>;
  };
  /** Present with the controller role: the lease's holder and whether this process holds it. */
  leader?: { holder(): Promise<string | undefined>; isLeader(): boolean };
  /** Last deploy per deployment (JSON), kept in Redis by whichever process ran it. */
  lastDeploys(): Promise<Record<string, string>>;
  /** Redis answers. */
  redisUp(): Promise<boolean>;
  /** NixGuard's own redis-server's supervision, when it runs one. */
  embeddedRedis?: () => Readiness["embeddedRedis"];
  probeNow(deployment: string, host: string): Promise<HostObservation>;
  reload(): Promise<{ ok: true } | { ok: false; issues: ConfigIssue[] }>;
  /** The NixGuard host's own resources, when measured. */
  self(): SelfResources | undefined;
  /** What nixops4 answered in each deployment's directory at start (serve asks it). */
  nixops4?: () => Nixops4DeploymentStatus[];
  /** Epoch ms this process started: a host never observed is unknown since then. */
  startedAt: number;
  /** Who probes what (the membership in Redis). */
  probing?: { status(): Promise<ProbingStatus> };
}

/** The REST API's view of a running NixGuard: reads health, state, queue and events; sends commands. */
export class RuntimeControlPlane implements ControlPlane {
  private readonly details = new HostDetailMemo();

  constructor(private readonly m: ControlPlaneDeps) {}

  async status(): Promise<FleetStatus> {
    const [ctl, queue, holder, probing] = await Promise.all([
      this.m.controller.status(),
      this.m.jobs.counts(),
      this.m.leader?.holder().catch(() => undefined),
      this.m.probing?.status().catch(() => undefined),
    ]);
    const all = this.allHealth();
    const self = this.m.self();
    return {
      version: VERSION,
      mode: ctl.mode,
      leader: {
        known: holder !== undefined,
        self: this.m.leader?.isLeader() ?? false,
        ...(holder !== undefined ? { id: holder } : {}),
      },
      pauses: ctl.pauses.map(toPauseInfo),
      breaker: {
        open: ctl.breaker.open,
        unhealthyFraction: ctl.breaker.total > 0 ? ctl.breaker.bad / ctl.breaker.total : 0,
        ...(ctl.breaker.since !== undefined ? { since: ctl.breaker.since } : {}),
      },
      maintenance: ctl.maintenance.map((w) => ({
        ...(w.deployment !== undefined ? { deployment: w.deployment } : {}),
        until: w.until,
      })),
      quarantined: ctl.quarantined.map((q) => ({
        deployment: q.deployment,
        ...(q.host !== undefined ? { host: q.host } : {}),
        since: q.since,
        until: q.until,
      })),
      held: ctl.held,
      hosts: countStates(all),
      queue,
      ...(self ? { self: this.selfStatus(self) } : {}),
      ...(this.m.nixops4 ? { nixops4: this.m.nixops4() } : {}),
      ...(probing ? { probing } : {}),
    };
  }

  private selfStatus(res: SelfResources): SelfStatus {
    const reasons = selfReasons(res, this.m.config().config.probes.thresholds);
    return {
      state: reasons.length > 0 ? "degraded" : "healthy",
      reasons,
      at: res.at,
      load: res.load,
      cpus: res.cpus,
      memoryUsedFraction: res.memory.usedFraction,
      filesystems: res.filesystems.map((f) => ({
        path: f.path,
        mount: f.mount,
        usedFraction: f.usedFraction,
      })),
    };
  }

  async deployments(): Promise<DeploymentSummary[]> {
    const [ctl, last] = await Promise.all([this.m.controller.status(), this.lastDeploys()]);
    return this.m.config().desired.deployments.map((d) => this.summary(d, ctl, last));
  }

  async deployment(name: string): Promise<DeploymentDetail> {
    const spec = this.spec(name);
    const [ctl, last] = await Promise.all([this.m.controller.status(), this.lastDeploys()]);
    return { ...this.summary(spec, ctl, last), hostHealth: spec.hosts.map((h) => this.healthOf(h)) };
  }

  private async lastDeploys(): Promise<Record<string, string>> {
    return this.m.lastDeploys();
  }

  async hosts(filter: HostFilter): Promise<HostHealth[]> {
    if (filter.deployment !== undefined) this.spec(filter.deployment);
    return this.allHealth().filter(
      (h) =>
        (filter.state === undefined || h.state === filter.state) &&
        (filter.deployment === undefined || h.deployment === filter.deployment),
    );
  }

  async host(ref: HostRef): Promise<HostDetail> {
    const spec = this.hostSpec(ref);
    // The three records this answer's flags come from (mirrored in memory, kept current through
    // Redis pub/sub: StateStore.mirrorPolicy), not controller.status(): that also works out the
    // fleet's breaker and the maintenance windows, O(fleet) per request (at 10,000 hosts ~100 µs
    // of CPU) for fields this answer does not have.
    const { pauses, quarantines, drift } = await this.m.store.policyRecords();
    const now = Date.now();
    return this.details.get(
      spec,
      this.healthOf(spec),
      this.m.health.observation(spec.deployment, spec.name),
      {
        paused: activePauses(pauses, now).some((p) => covers(p.scope, spec)),
        quarantined: activeQuarantines(quarantines, now).some(
          (q) => q.deployment === spec.deployment && (q.host === undefined || q.host === spec.name),
        ),
        drift: Object.hasOwn(drift, hostKey(spec.deployment, spec.name)),
      },
    );
  }

  async jobs(filter: JobFilter): Promise<JobInfo[]> {
    const limit = filter.limit ?? 50;
    const types = filter.state
      ? filter.state === "waiting"
        ? ["waiting", "prioritized"]
        : [filter.state]
      : ["active", "waiting", "prioritized", "delayed", "failed", "completed"];
    const jobs = await this.m.jobs.getJobs(types as JobType[], 0, limit - 1);
    const out = await Promise.all(jobs.filter(Boolean).map((j) => this.jobInfo(j)));
    return out.sort((a, b) => b.requestedAt - a.requestedAt).slice(0, limit);
  }

  async job(id: string): Promise<JobInfo> {
    return this.jobInfo(await this.findJob(id));
  }

  /**
   * Only ids NixGuard makes (`<key>..<run>`) are looked up: BullMQ reads `<queue>:<id>` as the
   * job's hash, so ids like `meta` or `id` would read its own keys (a bogus job, or WRONGTYPE).
   */
  private async findJob(id: string): Promise<Job<ActionJobData>> {
    const job = keyOfJobId(id) === undefined ? undefined : await this.m.jobs.getJob(id);
    if (!job) throw new NotFoundError("job", id);
    return job;
  }

  async *jobLog(id: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const job = await this.findJob(id);
    if (!opts.follow) {
      yield* toLines(await this.m.logs.read(id));
      return;
    }
    // Follow until the log is closed, the job is finished (a job failed by a second stall never
    // closes its log) or the client goes away.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const queued: string[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const follow = this.m.logs
      .follow(
        id,
        (chunk) => {
          queued.push(chunk);
          wake?.();
        },
        stop.signal,
      )
      .finally(() => {
        done = true;
        wake?.();
      });
    const watcher = setInterval(async () => {
      const state = await job.getState().catch(() => "unknown");
      if (state === "completed" || state === "failed") {
        setTimeout(() => stop.abort(), 500).unref();
        clearInterval(watcher);
      }
    }, 1000);
    watcher.unref();
    let partial = "";
    try {
      while (true) {
        while (queued.length > 0) {
          const text = partial + queued.shift();
          const parts = text.split("\n");
          partial = parts.pop() ?? "";
          for (const line of parts) yield parseRecord(line, Date.now());
        }
        if (done) break;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
      if (partial) yield parseRecord(partial, Date.now());
    } finally {
      clearInterval(watcher);
      stop.abort();
      opts.signal.removeEventListener("abort", onAbort);
      await follow.catch(() => undefined);
    }
  }

  async events(query: EventQuery) {
    return this.m.events.list(query);
  }

  async reconcile(req: ReconcileRequest, ctx: CommandContext): Promise<ReconcileResult> {
    const names = req.deployments ?? this.m.config().desired.deployments.map((d) => d.name);
    for (const n of names) this.spec(n);
    const dryRun = req.dryRun === true;
    const actions: ReconcileResult["actions"] = [];
    for (const name of names) {
      const r = await this.m.controller.reconcile(name, { dryRun, actor: ctx.actor });
      for (const a of r.actions) {
        actions.push({
          key: a.key,
          action: a.action,
          decision: a.decision === "quarantined" ? "enqueued" : a.decision,
          ...(a.blockedBy ? { blockedBy: a.blockedBy } : {}),
          ...(a.jobId ? { jobId: a.jobId } : {}),
          ...(a.enqueue ? { enqueue: a.enqueue } : {}),
        });
      }
    }
    return { dryRun, deployments: names, actions };
  }

  async redeploy(deployment: string, ctx: CommandContext): Promise<CommandResult> {
    const spec = this.spec(deployment);
    return this.command({ kind: "redeploy", deployment, target: spec.target }, ctx);
  }

  async probeHost(ref: HostRef, _ctx: CommandContext): Promise<HostObservation> {
    const spec = this.hostSpec(ref);
    return this.m.probeNow(spec.deployment, spec.name);
  }

  async restartUnit(ref: HostRef, unit: string, ctx: CommandContext): Promise<CommandResult> {
    const spec = this.hostSpec(ref);
    if (!spec.units.some((u) => u.unit === unit)) throw new NotFoundError("unit", unit);
    return this.command(
      { kind: "restart", deployment: spec.deployment, host: spec.name, units: [unit] },
      ctx,
    );
  }

  async pause(req: PauseRequest, ctx: CommandContext): Promise<PauseInfo> {
    const p = await this.m.controller.pause(this.policyScope(req.scope), req.reason, ctx.actor, req.until);
    return toPauseInfo(p);
  }

  async resume(req: ResumeRequest, ctx: CommandContext): Promise<ResumeResult> {
    try {
      const scope = (await this.pausedScope(req.scope)) ?? this.policyScope(req.scope);
      return { resumed: toPauseInfo(await this.m.controller.resume(scope, ctx.actor)) };
    } catch (e) {
      if ((e as { code?: string }).code === "NOT_FOUND")
        throw new NotFoundError("pause", describe(req.scope));
      throw e;
    }
  }

  async resetHost(ref: HostRef, ctx: CommandContext): Promise<ResetResult> {
    const spec = this.hostSpec(ref);
    return this.m.controller.reset({ kind: "host", deployment: spec.deployment, host: spec.name }, ctx.actor);
  }

  async generations(ref: HostRef): Promise<HostGenerationsInfo> {
    const spec = this.hostSpec(ref);
    const { memory, hold } = await this.m.controller.generations(spec.deployment, spec.name);
    return {
      deployment: spec.deployment,
      host: spec.name,
      ...(memory.current !== undefined ? { current: memory.current } : {}),
      generations: memory.entries,
      ...(hold ? { hold } : {}),
    };
  }

  async rollback(ref: HostRef, to: string | number | undefined, ctx: CommandContext): Promise<CommandResult> {
    const spec = this.hostSpec(ref);
    const d = await this.m.controller.requestRollback(spec.deployment, spec.name, to, {
      actor: ctx.actor,
      force: ctx.force,
    });
    return this.commandResult(d);
  }

  async release(ref: HostRef, ctx: CommandContext): Promise<ReleaseResult> {
    const spec = this.hostSpec(ref);
    return { released: await this.m.controller.release(spec.deployment, spec.name, ctx.actor) };
  }

  async resetDeployment(deployment: string, ctx: CommandContext): Promise<ResetResult> {
    this.spec(deployment);
    return this.m.controller.reset({ kind: "deployment", deployment }, ctx.actor);
  }

  async reloadConfig(ctx: CommandContext): Promise<ReloadResult> {
    const r = await this.m.reload();
    if (!r.ok) {
      await this.m.events
        .append({
          time: Date.now(),
          kind: "config",
          reason: `reload refused: ${r.issues.length} error(s)`,
          actor: ctx.actor,
        })
        .catch(() => undefined);
      return r;
    }
    const d = this.m.config().desired.deployments;
    return { ok: true, deployments: d.length, hosts: d.reduce((n, x) => n + x.hosts.length, 0) };
  }

  async readiness(): Promise<Readiness> {
    const redis = await this.m.redisUp().catch(() => false);
    const holder = redis ? await this.m.leader?.holder().catch(() => undefined) : undefined;
    const embeddedRedis = this.m.embeddedRedis?.();
    return {
      configLoaded: true,
      redis,
      // Without the controller role there is no election here: another process leads.
      leaderKnown: this.m.leader ? holder !== undefined : redis,
      ...(embeddedRedis ? { embeddedRedis } : {}),
    };
  }

  // ---- internals ----

  private async command(action: Action, ctx: CommandContext): Promise<CommandResult> {
    return this.commandResult(
      await this.m.controller.requestAction(action, { actor: ctx.actor, force: ctx.force }),
    );
  }

  private commandResult(d: Decision): CommandResult {
    if (d.decision === "blocked") {
      const reason = (d.blockedBy && CONFLICT_OF[d.blockedBy]) ?? "paused";
      throw new ConflictError(reason, `${d.blockedBy ?? "blocked"}: ${d.detail ?? "blocked by policy"}`);
    }
    if (!d.jobId) throw new ConflictError("already-running", "no job was queued");
    return {
      key: d.key,
      jobId: d.jobId,
      state: d.enqueue ?? "added",
      ...(d.units ? { units: d.units } : {}),
    };
  }

  private spec(name: string): DeploymentSpec {
    const spec = this.m.config().desired.deployments.find((d) => d.name === name);
    if (!spec) throw new NotFoundError("deployment", name);
    return spec;
  }

  private hostSpec(ref: HostRef): HostSpec {
    if (ref.deployment !== undefined) this.spec(ref.deployment);
    const named = hostsNamed(this.m.config().desired, ref.host);
    const found = ref.deployment === undefined ? named : named.filter((h) => h.deployment === ref.deployment);
    if (found.length === 0) throw new NotFoundError("host", ref.host);
    if (found.length > 1) {
      throw new ConflictError(
        "already-running",
        `host "${ref.host}" is in several deployments: add ?deployment=`,
      );
    }
    return found[0]!;
  }

  private healthOf(h: HostSpec): HostHealth {
    return this.m.health.orUnknown(h, this.m.startedAt);
  }

  private allHealth(): HostHealth[] {
    return this.m.config().desired.deployments.flatMap((d) => d.hosts.map((h) => this.healthOf(h)));
  }

  private summary(d: DeploymentSpec, ctl: ControllerStatus, last: Record<string, string>): DeploymentSummary {
    const lastDeploy = last[d.name]
      ? (JSON.parse(last[d.name]!) as DeploymentSummary["lastDeploy"])
      : undefined;
    return {
      name: d.name,
      target: d.target,
      flake: d.flake,
      hosts: countStates(d.hosts.map((h) => this.healthOf(h))),
      paused: ctl.pauses.some(
        (p) => p.scope.kind === "global" || (p.scope.kind === "deployment" && p.scope.deployment === d.name),
      ),
      quarantined: ctl.quarantined.some((q) => q.deployment === d.name),
      ...(lastDeploy ? { lastDeploy } : {}),
    };
  }

  /**
   * A stored pause of this scope, when exactly one matches: found among the pauses themselves, not
   * the config, so a pause of a host or deployment a reload removed can still be lifted (it would
   * apply again if the name came back).
   */
  private async pausedScope(scope: PauseScope): Promise<PolicyScope | undefined> {
    if (scope.kind === "global") return undefined;
    const { pauses } = await this.m.store.policyRecords();
    const matches = pauses
      .map((p) => p.scope)
      .filter((p) =>
        scope.kind === "deployment"
          ? p.kind === "deployment" && p.deployment === scope.deployment
          : p.kind === "host" &&
            p.host === scope.host &&
            (scope.deployment === undefined || p.deployment === scope.deployment),
      );
    return matches.length === 1 ? matches[0] : undefined;
  }

  private policyScope(scope: PauseScope): PolicyScope {
    if (scope.kind === "host") {
      const spec = this.hostSpec(scope);
      return { kind: "host", deployment: spec.deployment, host: spec.name };
    }
    if (scope.kind === "deployment") this.spec(scope.deployment);
    return scope;
  }

  private async jobInfo(job: Job<ActionJobData>): Promise<JobInfo> {
    const raw = await job.getState();
    const state: QueueState =
      raw === "prioritized" || raw === "waiting-children" || raw === "unknown"
        ? "waiting"
        : (raw as QueueState);
    const out = job.returnvalue as ActionOutcome | null | undefined;
    return {
      id: job.id ?? "",
      key: job.data.key,
      state,
      action: job.data.action,
      actor: job.data.actor,
      reason: job.data.reason,
      requestedAt: job.data.requestedAt ?? job.timestamp,
      ...(job.processedOn ? { startedAt: job.processedOn } : {}),
      ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
      ...(out?.outcome ? { outcome: out.outcome, message: out.message } : {}),
      ...(out?.exitCode !== undefined ? { exitCode: out.exitCode } : {}),
      ...(isApplyProgress(job.progress) ? { progress: job.progress } : {}),
      ...(state === "failed" && !out ? { message: job.failedReason?.slice(0, 500) } : {}),
    };
  }
}

function toPauseInfo(p: {
  scope: PolicyScope;
  reason: string;
  actor: string;
  since: number;
  until?: number;
}): PauseInfo {
  return {
    scope: p.scope,
    reason: p.reason,
    actor: p.actor,
    since: p.since,
    ...(p.until !== undefined ? { until: p.until } : {}),
  };
}

function countStates(all: readonly HostHealth[]): Record<HostState, number> {
  const out = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>;
  for (const h of all) out[h.state]++;
  return out;
}

function covers(scope: PolicyScope, h: HostSpec): boolean {
  if (scope.kind === "global") return true;
  if (scope.kind === "deployment") return scope.deployment === h.deployment;
  return hostKey(scope.deployment, scope.host) === hostKey(h.deployment, h.name);
}

function describe(scope: PauseScope): string {
  if (scope.kind === "global") return "global";
  if (scope.kind === "deployment") return scope.deployment;
  return scope.deployment ? `${scope.deployment}/${scope.host}` : scope.host;
}

function* toLines(text: string): Iterable<LogLine> {
  const now = Date.now();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) yield parseRecord(line, now);
}

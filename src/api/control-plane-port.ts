import type { Action, ActionOutcomeKind, EnqueueResult } from "../action.js";
import type { Config } from "../config/schema.js";
import type { BlockReason, HostHealth, HostState, NixGuardEvent } from "../controller/types.js";
import { type ConfigIssue, NixGuardError } from "../errors.js";
import type { ApplyProgress } from "../nixops4/progress.js";
import type { Nixops4DeploymentStatus } from "../nixops4/start-discovery.js";
import type { HostObservation } from "../probes/types.js";
import type { LogRecord } from "../queue/log-record.js";
import type { QueueState } from "../queue/types.js";

/**
 * Everything the REST API reads from and asks of the rest of NixGuard. The API never touches
 * Redis, BullMQ, the controller or probes directly: the integrator implements this interface
 * (src/control-plane.ts) and tests use an in-memory fake (test/helpers/fake-control-plane.ts).
 *
 * Errors: throw NotFoundError / ConflictError (or any NixGuardError with code NOT_FOUND,
 * CONFLICT, USAGE, REDIS_UNAVAILABLE). The API's one error handler maps them to
 * 404 / 409 / 400 / 503; anything else is a bug and answers 500.
 */
export interface ControlPlane {
  status(): Promise<FleetStatus>;
  deployments(): Promise<DeploymentSummary[]>;
  /** NOT_FOUND when no such deployment. */
  deployment(name: string): Promise<DeploymentDetail>;
  hosts(filter: HostFilter): Promise<HostHealth[]>;
  /**
   * Every check of the host with state, reason, since and last observation. NOT_FOUND when
   * unknown. While nothing in the answer changed the same frozen object may be returned (the route
   * keeps its serialized body per object).
   */
  host(ref: HostRef): Promise<HostDetail>;
  jobs(filter: JobFilter): Promise<JobInfo[]>;
  /** NOT_FOUND when no such job (never existed or retention dropped it). */
  job(id: string): Promise<JobInfo>;
  /**
   * The job's log lines. Without `follow` the iterable yields what is stored and ends; with
   * `follow` it keeps yielding new lines as they are produced and ends when the log is closed
   * (the job's command ended; the job itself may still be finishing — the route waits for its
   * final state before it sends `end`), when the job ends, or when `signal` aborts. NOT_FOUND (thrown on the first `next()`
   * at the latest) when the job is unknown.
   */
  jobLog(id: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine>;
  events(query: EventQuery): Promise<NixGuardEvent[]>;

  /** Plans every (or the named) deployment now; enqueues unless dryRun. NOT_FOUND for an unknown name. */
  reconcile(req: ReconcileRequest, ctx: CommandContext): Promise<ReconcileResult>;
  /** CONFLICT (paused, maintenance, quarantined) unless ctx.force; coalesces with a queued job. */
  redeploy(deployment: string, ctx: CommandContext): Promise<CommandResult>;
  /** Probes the host now (outside the schedule) and returns what was seen. */
  probeHost(ref: HostRef, ctx: CommandContext): Promise<HostObservation>;
  /** NOT_FOUND when the unit is not one of the host's checks; CONFLICT as redeploy. */
  restartUnit(ref: HostRef, unit: string, ctx: CommandContext): Promise<CommandResult>;
  pause(req: PauseRequest, ctx: CommandContext): Promise<PauseInfo>;
  /** NOT_FOUND when that scope is not paused. */
  resume(req: ResumeRequest, ctx: CommandContext): Promise<ResumeResult>;
  /** Clears quarantine, backoff and budget of the host. */
  resetHost(ref: HostRef, ctx: CommandContext): Promise<ResetResult>;
  /** What NixGuard remembers of the host's generations, and its hold. */
  generations(ref: HostRef): Promise<HostGenerationsInfo>;
  /**
   * Manual rollback to `to` (a store path or a profile generation number), else to the newest
   * known-good generation; CONFLICT when none is remembered, or as redeploy.
   */
  rollback(ref: HostRef, to: string | number | undefined, ctx: CommandContext): Promise<CommandResult>;
  /** Ends the host's hold; NOT_FOUND when it is not held. */
  release(ref: HostRef, ctx: CommandContext): Promise<ReleaseResult>;
  resetDeployment(deployment: string, ctx: CommandContext): Promise<ResetResult>;
  /** Re-reads the config file; an invalid one is refused (ok: false) and the old one keeps running. */
  reloadConfig(ctx: CommandContext): Promise<ReloadResult>;
  readiness(): Promise<Readiness>;
}

/** Who asked, for the event log; `force` lets a manual action pass pause and maintenance. */
export interface CommandContext {
  actor: string;
  force: boolean;
}

/** A host by name; `deployment` disambiguates when two deployments share a host name. */
export interface HostRef {
  host: string;
  deployment?: string;
}

export interface HostFilter {
  state?: HostState;
  deployment?: string;
}

export type Mode = Config["remediation"]["mode"];
export type QueueCountState = Exclude<QueueState, "completed">;

export type PauseScope =
  | { kind: "global" }
  | { kind: "deployment"; deployment: string }
  | { kind: "host"; host: string; deployment?: string };

export interface PauseInfo {
  scope: PauseScope;
  reason: string;
  actor: string;
  since: number;
  /** Epoch ms the pause expires by itself; absent: until resumed. */
  until?: number;
}

export interface PauseRequest {
  scope: PauseScope;
  reason: string;
  until?: number;
}

export interface ResumeRequest {
  scope: PauseScope;
  reason: string;
}

export interface ResumeResult {
  resumed: PauseInfo;
}

export interface FleetStatus {
  version: string;
  mode: Mode;
  leader: { known: boolean; self: boolean; id?: string };
  pauses: PauseInfo[];
  breaker: { open: boolean; unhealthyFraction: number; since?: number };
  /** Maintenance windows open now; `deployment` absent means all deployments. */
  maintenance: { deployment?: string; until: number }[];
  quarantined: { deployment: string; host?: string; since: number; until?: number }[];
  /** Hosts held at the generation NixGuard rolled them back to. */
  held?: HoldInfo[];
  hosts: Record<HostState, number>;
  queue: Record<QueueCountState, number>;
  /** The NixGuard host itself (load, memory, state dir and /nix/store filesystems), when measured. */
  self?: SelfStatus;
  /** Per deployment, what nixops4 answered at start: its CLI generation, targets ok or not. */
  nixops4?: Nixops4DeploymentStatus[];
  /** Who probes what: the probing processes and each one's share of the hosts. */
  probing?: ProbingStatus;
}

/** A probing process (roles controller or probe) as the membership in Redis holds it. */
export interface ProbingMember {
  id: string;
  /** Its last heartbeat (Redis' clock). */
  heartbeatAt: number;
  alive: boolean;
  /** Hosts its rendezvous share holds (0 once dead: the others took them). */
  hosts: number;
  pid?: number;
  hostname?: string;
  roles?: string[];
  startedAt?: number;
}

export interface ProbingStatus {
  /** More than one live member: the hosts are split between them. */
  shared: boolean;
  /** This process's member id, when it probes. */
  self?: string;
  members: ProbingMember[];
}

export interface SelfStatus {
  state: "healthy" | "degraded";
  reasons: string[];
  at: number;
  load: [number, number, number];
  cpus: number;
  memoryUsedFraction: number;
  filesystems: { path: string; mount: string; usedFraction: number }[];
}

export interface DeploymentSummary {
  name: string;
  target: string;
  flake: string;
  hosts: Record<HostState, number>;
  paused: boolean;
  quarantined: boolean;
  lastDeploy?: { outcome: ActionOutcomeKind; finishedAt: number; jobId: string };
}

export interface DeploymentDetail extends DeploymentSummary {
  hostHealth: HostHealth[];
}

export interface GenerationInfo {
  path: string;
  firstSeen: number;
  since: number;
  by: "nixguard" | "other";
  cause?: string;
  verdict: "unknown" | "good" | "bad";
  verdictAt?: number;
  reason?: string;
}

export interface HoldInfo {
  deployment: string;
  host: string;
  bad: string;
  to: string;
  since: number;
  reason: string;
  cause?: string;
  actor: string;
}

export interface HostGenerationsInfo {
  deployment: string;
  host: string;
  current?: string;
  /** Newest switch first. */
  generations: GenerationInfo[];
  hold?: HoldInfo;
}

export interface ReleaseResult {
  released: HoldInfo;
}

export interface HostDetail {
  health: HostHealth;
  address: string;
  target: string;
  services: string[];
  paused: boolean;
  quarantined: boolean;
  drift: boolean;
  lastObservation?: HostObservation;
}

export interface JobFilter {
  state?: QueueState;
  limit?: number;
}

export interface JobInfo {
  id: string;
  key: string;
  state: QueueState;
  action: Action;
  actor: string;
  reason: string;
  requestedAt: number;
  startedAt?: number;
  finishedAt?: number;
  outcome?: ActionOutcomeKind;
  message?: string;
  exitCode?: number;
  /** A redeploy's resources started and finished so far (nixops4's own progress lines). */
  progress?: ApplyProgress;
}

/** One line of a job's log: when NixGuard read it, and from nixops4's stdout or stderr or NixGuard itself. */
export type LogLine = LogRecord;

export interface EventQuery {
  /** Epoch ms: events at or after. */
  since?: number;
  limit: number;
  deployment?: string;
  host?: string;
}

export interface ReconcileRequest {
  deployments?: string[];
  dryRun?: boolean;
}

export interface PlannedAction {
  key: string;
  action: Action;
  /** enqueued: a job exists for it now; blocked: a gate stopped it; planned: dry run only. */
  decision: "enqueued" | "blocked" | "planned";
  blockedBy?: BlockReason;
  jobId?: string;
  enqueue?: EnqueueResult["state"];
}

export interface ReconcileResult {
  dryRun: boolean;
  deployments: string[];
  actions: PlannedAction[];
}

export interface CommandResult {
  key: string;
  jobId: string;
  state: EnqueueResult["state"];
  /** Restarts: every unit the job will restart — this request's and those asked before it. */
  units?: string[];
}

export interface ResetResult {
  cleared: ("quarantine" | "backoff" | "budget")[];
}

export type ReloadResult =
  | { ok: true; deployments: number; hosts: number }
  | { ok: false; issues: ConfigIssue[] };

export interface Readiness {
  configLoaded: boolean;
  redis: boolean;
  leaderKnown: boolean;
  /** NixGuard's own redis-server, when it runs one: how it is supervised and how it is doing. */
  embeddedRedis?: {
    state: "running" | "restarting" | "given-up" | "stopped";
    restarts: number;
    lastExit?: string;
    policy: string;
  };
}

/** The yes/no checks of Readiness: each false one is a reason /readyz answers 503. */
export type ReadyCheck = "configLoaded" | "redis" | "leaderKnown";

export type NotFoundKind = "deployment" | "host" | "job" | "unit" | "pause";
export type ConflictReason = "paused" | "maintenance" | "quarantined" | "already-running" | "breaker";

/** 404: names what was not found so the caller can fix the request. */
export class NotFoundError extends NixGuardError {
  readonly resource: NotFoundKind;
  readonly resourceName: string;
  constructor(resource: NotFoundKind, resourceName: string) {
    super("NOT_FOUND", `unknown ${resource} "${resourceName}"`);
    this.resource = resource;
    this.resourceName = resourceName;
  }
}

/** 409: the command cannot run now; `reason` says which gate (paused, maintenance, ...). */
export class ConflictError extends NixGuardError {
  readonly reason: ConflictReason;
  constructor(reason: ConflictReason, message: string) {
    super("CONFLICT", message);
    this.reason = reason;
  }
}

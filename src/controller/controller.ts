import { type Action, type ActionOutcome, actionKey } from "../action.js";
import type { DeploymentSpec, DesiredState } from "../config/desired.js";
import { allHosts, hostKey } from "../config/desired.js";
import type { LoadedConfig } from "../config/load.js";
import { NixGuardError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ActionQueue } from "../queue/types.js";
import { type Fence, isFenced, underFence } from "../redis/fence.js";
import { Decider, type Decision } from "./decide.js";

export type { Decision } from "./decide.js";

import { type ControllerStatus, controllerStatus } from "./controller-status.js";
import { hostsCoveredBy, hostsUnderRedeploy } from "./drift.js";
import type { EventLog } from "./events.js";
import { emptyGenerations, type HostGenerations, knownGood } from "./generations.js";
import type { HoldEntry } from "./hold.js";
import { HoldKeeper } from "./hold-keeper.js";
import { Housekeeping } from "./housekeeping.js";
import { ReconcileLoop } from "./loop.js";
import {
  AUTOMATIC,
  type BreakerStatus,
  breakerStatus,
  describeScope,
  type Pause,
  type PauseScope,
  pauseLabel,
  recordFinish,
} from "./policy/index.js";
import { UNTIL_RESET } from "./policy/quarantine.js";
import { type PlannedAction, reconcileDeployment } from "./reconciler.js";
import { KeyedSerial } from "./serial.js";
import type { StateStore } from "./state-store.js";
import type { HealthView, HostHealth, NixGuardEvent } from "./types.js";

export interface LeaderView {
  isLeader(): boolean;
  fencingToken(): number | undefined;
  /** What the planning's writes carry for Redis to check (undefined when not leading). */
  fence(): Fence | undefined;
}

export interface ControllerDeps {
  getConfig: () => LoadedConfig;
  queue: ActionQueue;
  store: StateStore;
  events: EventLog;
  /** Judged health of every host: the one map, kept by the health book. */
  health: HealthView;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  /** Probes a host at once (after an action), feeding `observe`. */
  reprobe?: (deployment: string, host: string) => Promise<void>;
  /** When given, only the leader plans; plans record its fencing token. */
  leader?: LeaderView;
  /** IANA zone of maintenance cron expressions; default the process's (as node-cron). */
  timezone?: string;
  /** Longest wait between two passes over a deployment; default probes.interval. */
  resyncMs?: number;
  /**
   * Test seam: awaited in a pass between planning and its first decision, when the plan has
   * actions (the fault suite freezes the leader there: test/faults/leader-failover.test.ts).
   */
  beforeDecisions?: (deployment: string, plan: readonly PlannedAction[]) => Promise<void>;
}

export interface ReconcileResult {
  deployment: string;
  dryRun: boolean;
  /** The leader's fencing token when this plan was made (undefined without leader election). */
  fencingToken?: number;
  actions: Decision[];
  requeueAfterMs?: number;
}

/**
 * The controller: reconciles one deployment at a time from the health book's judged health
 * (ladder → gates → queue), takes manual requests from the API and outcomes from the worker.
 * Everything it must remember across restarts lives in the state store.
 */
export class Controller {
  private readonly decider: Decider;
  private readonly loop: ReconcileLoop;
  private readonly housekeeping: Housekeeping;
  private readonly holdKeeper: HoldKeeper;
  /** One read-decide-write section per deployment at a time (see serial.ts). */
  private readonly serial = new KeyedSerial();
  private breaker: { open: boolean; since?: number } | undefined;
  readonly now: () => number;

  constructor(private readonly deps: ControllerDeps) {
    this.now = deps.now ?? Date.now;
    this.loop = new ReconcileLoop({
      reconcile: (d) => this.reconcile(d),
      resyncMs: () => deps.resyncMs ?? deps.getConfig().config.probes.interval,
      logger: deps.logger,
      ...(deps.leader ? { isLeader: () => deps.leader?.isLeader() ?? false } : {}),
    });
    const emit = (e: Omit<NixGuardEvent, "time">) => this.emit(e);
    this.housekeeping = new Housekeeping({ ...deps, now: this.now, emit });
    this.decider = new Decider({ ...deps, emit });
    this.holdKeeper = new HoldKeeper({ ...deps, decider: this.decider, emit, now: this.now });
  }

  /**
   * Leader-only: the reconcile loop with its timers. Health older than probes.maxHealthAge is
   * forgotten first: while this process did not lead it probed nothing, and every deployment is
   * about to be planned at once.
   */
  start(): void {
    const forgotten = this.deps.health.forgetStale(this.now());
    if (forgotten > 0)
      this.deps.logger.info(
        { hosts: forgotten },
        "leading: stale health forgotten, hosts unknown until probed",
      );
    this.loop.start(this.deps.getConfig().desired.deployments.map((d) => d.name));
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** A host's judged health changed (the health book calls): wakes its deployment when it matters. */
  observe(h: HostHealth, prev: HostHealth | undefined): void {
    if (!prev || changed(prev, h)) this.loop.wake(h.deployment);
  }

  /** After a config reload (getConfig now returns the new one): pass over every deployment. */
  reloaded(): void {
    for (const d of this.deps.getConfig().desired.deployments) this.loop.wake(d.name);
  }

  wake(deployment: string): void {
    this.loop.wake(deployment);
  }

  /** One pass over one deployment. `dryRun`: plan and evaluate the gates, change nothing. */
  async reconcile(
    deployment: string,
    opts: { dryRun?: boolean; actor?: string } = {},
  ): Promise<ReconcileResult> {
    const dryRun = opts.dryRun === true;
    this.spec(deployment); // NOT_FOUND before waiting for a turn
    // A dry run writes nothing, so it need not wait for a pass in progress.
    if (dryRun) return this.pass(deployment, true, opts.actor);
    return this.serial.run(deployment, () => this.fenced(() => this.pass(deployment, false, opts.actor)));
  }

  /**
   * Runs a leader's planning under its fence, taken at the task's turn: every write and enqueue
   * inside carries the token, and Redis refuses them once it is stale (redis/fence.ts). A refusal
   * ends the task; it is counted and logged with its code.
   */
  private async fenced<T>(task: () => Promise<T>): Promise<T> {
    if (this.follower()) throw new NixGuardError("CONFLICT", "not the leader: only the leader plans");
    const fence = this.deps.leader?.fence();
    try {
      return await underFence(fence, task);
    } catch (err) {
      if (!isFenced(err)) throw err;
      this.deps.metrics.fencedWrites.inc({ by: "planning" });
      this.deps.logger.warn(
        { code: "FENCED", fencingToken: fence?.token, err: { message: (err as Error).message } },
        "write refused: stale fencing token",
      );
      throw err instanceof NixGuardError ? err : new NixGuardError("FENCED", (err as Error).message);
    }
  }

  private async pass(deployment: string, dryRun: boolean, actorOpt?: string): Promise<ReconcileResult> {
    const started = performance.now();
    const { config } = this.deps.getConfig();
    // Checked at the pass's turn, not the request's: the lease may have moved meanwhile.
    if (!dryRun && this.follower()) {
      throw new NixGuardError("CONFLICT", "not the leader: only the leader plans");
    }
    const spec = this.spec(deployment);
    const now = this.now();
    const tokenAtStart = this.deps.leader?.fencingToken();
    const state = await this.deps.store.load(spec);
    const health = this.healthOf(spec);
    if (!dryRun) await this.housekeeping.run(spec, state, health, now);
    const breaker = await this.updateBreaker(now, !dryRun);
    const out = reconcileDeployment({ deployment: spec, health, state, config: config.remediation, now });
    if (!dryRun && out.plan.length > 0) await this.deps.beforeDecisions?.(deployment, out.plan);
    const actor = actorOpt ?? "controller";
    const actions: Decision[] = [];
    for (const p of out.plan)
      actions.push(await this.decider.decide(p, spec, state, breaker, AUTOMATIC, actor, dryRun, now));
    if (!dryRun) this.decider.forgetUnblocked(deployment, out.plan);

    let requeueAt = out.requeueAfterMs === undefined ? undefined : now + out.requeueAfterMs;
    for (const { until } of actions) {
      if (until !== undefined) requeueAt = requeueAt === undefined ? until : Math.min(requeueAt, until);
    }
    this.deps.metrics.reconcileDuration.observe({ deployment }, (performance.now() - started) / 1000);
    const token = this.deps.leader?.fencingToken();
    if (!dryRun)
      // The plan's record: who planned (fencing token), from when (plannedAt) to when (the line's time).
      this.deps.logger.debug(
        {
          deployment,
          fencingToken: tokenAtStart,
          plannedAt: now,
          actions: actions.map((a) => `${a.decision} ${a.key}`),
        },
        "planned",
      );
    return {
      deployment,
      dryRun,
      ...(token !== undefined ? { fencingToken: token } : {}),
      actions,
      ...(requeueAt !== undefined ? { requeueAfterMs: Math.max(0, requeueAt - now) } : {}),
    };
  }

  /** A scheduled redeploy: automatic, through every gate, actor `schedule`. */
  async scheduledRedeploy(deployment: string): Promise<Decision> {
    this.spec(deployment);
    return this.serial.run(deployment, () =>
      this.fenced(async () => {
        const spec = this.spec(deployment);
        const action: Action = { kind: "redeploy", deployment, target: spec.target };
        const p: PlannedAction = { action, key: actionKey(action), reason: "schedule", hosts: [] };
        const now = this.now();
        const state = await this.deps.store.load(spec);
        const breaker = await this.updateBreaker(now, true);
        return this.decider.decide(p, spec, state, breaker, AUTOMATIC, "schedule", false, now);
      }),
    );
  }

  /**
   * A manual action from the API: same queue, same lock. Skips the automatic-only gates
   * (in-flight, backoff, budget, quarantine); mode, pause, maintenance and breaker unless `force`.
   */
  async requestAction(action: Action, opts: { actor: string; force?: boolean }): Promise<Decision> {
    const known = (): DeploymentSpec => {
      const spec = this.spec(action.deployment);
      if (action.host !== undefined && !spec.hosts.some((h) => h.name === action.host)) {
        throw new NixGuardError("NOT_FOUND", `unknown host "${action.host}" in deployment "${spec.name}"`);
      }
      return spec;
    };
    known();
    return this.serial.run(action.deployment, async () => {
      const spec = known(); // again at its turn: a reload may have removed it meanwhile
      const now = this.now();
      const state = await this.deps.store.load(spec);
      const breaker = await this.updateBreaker(now, true);
      const p: PlannedAction = {
        action,
        key: actionKey(action),
        reason: `requested by ${opts.actor}`,
        hosts: action.host === undefined ? [] : [action.host],
      };
      const origin = { manual: true, force: opts.force === true };
      return this.decider.decide(p, spec, state, breaker, origin, opts.actor, false, now);
    });
  }

  /** An action finished, in one process (tests, the demo): its state, then the leader's part. */
  async onOutcome(o: ActionOutcome): Promise<void> {
    await this.recordOutcome(o);
    await this.afterOutcome(o);
  }

  /**
   * The part of an outcome kept in Redis — settle, backoff from its end, drift bookkeeping, a
   * usage error's stop, a rollback's hold — done by the process that ran the job, before the job completes: every
   * process reads it from there, and nothing is lost while no process leads.
   */
  async recordOutcome(o: ActionOutcome): Promise<void> {
    const { config, desired } = this.deps.getConfig();
    const deployment = o.action.deployment;
    await this.deps.store.finish(
      deployment,
      o.key,
      o.jobId,
      o.finishedAt + config.remediation.settle,
      o.finishedAt,
    );
    const backoff = await this.deps.store.backoff(o.key);
    if (backoff)
      await this.deps.store.setBackoff(
        o.key,
        recordFinish(backoff, config.remediation.backoff, o.finishedAt),
      );
    const spec = desired.deployments.find((d) => d.name === deployment);
    const covered = spec ? hostsCoveredBy(o.action, spec) : [];
    // An apply that ran may have switched hosts, even when it failed: their next observation is ours.
    const ran =
      o.outcome === "success" || o.outcome === "failed" || o.outcome === "panic" || o.outcome === "timeout";
    if (covered.length > 0 && spec) {
      // Hosts another redeploy still in flight will switch (the rerun queued behind this job, a
      // host target's apply beside the deployment's) stay pending until its outcome: recording
      // their system now would make that apply's own switch look like drift.
      const marks = await this.deps.store.inFlight(deployment);
      const busy = hostsUnderRedeploy(
        spec,
        marks.map((e) => e.key),
      );
      const later = covered.filter((h) => busy.has(h));
      const settled = covered.filter((h) => !busy.has(h));
      if (later.length > 0) await this.deps.store.markGenerationPending(deployment, later, 0);
      if (settled.length > 0) {
        if (ran) await this.deps.store.markGenerationPending(deployment, settled, o.finishedAt);
        else await this.deps.store.clearGenerationPending(deployment, settled);
      }
    }
    if (o.outcome === "usage-error") await this.stopAfterUsageError(o);
    // A hold, or the quarantine of a refused rollback: Redis state, so here, where the job ran.
    await this.holdKeeper.onOutcome(o);
  }

  /**
   * The leader's part of an outcome, whichever process ran the job (it comes through Redis,
   * manager.ts): re-probe the hosts, the outcome event with their health after it, and a pass
   * over the deployment. Only the leader probes, so anywhere else "after" was always unknown and
   * the deployment was not woken.
   */
  async afterOutcome(o: ActionOutcome): Promise<void> {
    const { config, desired } = this.deps.getConfig();
    const deployment = o.action.deployment;
    const spec = desired.deployments.find((d) => d.name === deployment);
    const hosts = o.action.kind === "restart" ? [o.action.host] : spec ? hostsCoveredBy(o.action, spec) : [];
    if (this.deps.reprobe) {
      // Bounded: a host that does not answer must not hold the outcome event.
      const probes = Promise.allSettled(hosts.map((h) => this.deps.reprobe?.(deployment, h)));
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise((resolve) => {
        timer = setTimeout(resolve, 2 * config.probes.timeout);
      });
      await Promise.race([probes, limit]).finally(() => clearTimeout(timer));
    }
    const after = hosts.map((h) => this.deps.health.get(deployment, h)?.state ?? "unknown");
    const healed = after.length > 0 && after.every((s) => s === "healthy" || s === "degraded");
    await this.emit({
      kind: "outcome",
      deployment,
      ...(o.action.host !== undefined ? { host: o.action.host } : {}),
      action: o.action.kind,
      outcome: o.outcome,
      jobId: o.jobId,
      actor: o.actor,
      reason: `${o.message.slice(0, 300)}${after.length > 0 ? (healed ? " (healed)" : ` (after: ${after.join(", ")})`) : ""}`,
    });
    this.loop.wake(deployment);
  }

  /**
   * nixops4 refused its command line (exit 2): the same argv would be refused again, so the
   * deployment's automatic actions stop until an operator fixes the config and resets it — a
   * quarantine with no cooldown, alerted like any other, its reason naming the argv.
   */
  private async stopAfterUsageError(o: ActionOutcome): Promise<void> {
    const deployment = o.action.deployment;
    const now = this.now();
    const reason = `automatic redeploys stopped until reset: ${o.message}`.slice(0, 1000);
    await this.deps.store.setQuarantine({ deployment, since: now, until: UNTIL_RESET, reason });
    this.deps.metrics.quarantined.set({ deployment, host: "" }, 1);
    await this.emit({ kind: "quarantine", deployment, action: "quarantine", reason, actor: "controller" });
  }

  /**
   * Manual rollback: to `to` (a store path or a profile generation number), else to the newest
   * known-good generation NixGuard remembers. The worker refuses a generation the host no longer has.
   */
  async requestRollback(
    deployment: string,
    host: string,
    to: string | number | undefined,
    opts: { actor: string; force?: boolean },
  ): Promise<Decision> {
    this.checkScope({ kind: "host", deployment, host });
    const mem = (await this.deps.store.generationMemory(deployment, host)) ?? emptyGenerations();
    let action: Action;
    if (typeof to === "number") action = { kind: "rollback", deployment, host, to: [], toGeneration: to };
    else if (to !== undefined) action = { kind: "rollback", deployment, host, to: [to] };
    else {
      const good = knownGood(mem);
      if (good.length === 0)
        throw new NixGuardError(
          "CONFLICT",
          `no known-good generation remembered for ${deployment}/${host}: name one with --to`,
        );
      action = { kind: "rollback", deployment, host, to: good };
    }
    return this.requestAction(action, opts);
  }

  /** What NixGuard remembers of a host's generations, and its hold. */
  async generations(
    deployment: string,
    host: string,
  ): Promise<{ memory: HostGenerations; hold?: HoldEntry }> {
    this.checkScope({ kind: "host", deployment, host });
    const [memory, holds] = await Promise.all([
      this.deps.store.generationMemory(deployment, host),
      this.deps.store.holds(),
    ]);
    const hold = holds.find((h) => h.deployment === deployment && h.host === host);
    return { memory: memory ?? emptyGenerations(), ...(hold ? { hold } : {}) };
  }

  /** Operator: end a host's hold. NOT_FOUND when it is not held. */
  async release(deployment: string, host: string, actor: string): Promise<HoldEntry> {
    this.checkScope({ kind: "host", deployment, host });
    const released = await this.holdKeeper.release(deployment, host, actor);
    this.loop.wake(deployment);
    return released;
  }

  async pause(scope: PauseScope, reason: string, actor: string, until?: number): Promise<Pause> {
    this.checkScope(scope);
    const pause: Pause = {
      scope,
      reason,
      actor,
      since: this.now(),
      ...(until !== undefined ? { until } : {}),
    };
    await this.deps.store.setPause(pause);
    this.deps.metrics.paused.set({ scope: pauseLabel(scope) }, 1);
    await this.emit({
      kind: "pause",
      ...scopeFields(scope),
      reason: `paused ${describeScope(scope)}: ${reason}`,
      actor,
    });
    return pause;
  }

  /** NOT_FOUND when that scope is not paused. */
  async resume(scope: PauseScope, actor: string): Promise<Pause> {
    const removed = await this.deps.store.removePause(scope);
    if (!removed) throw new NixGuardError("NOT_FOUND", `${describeScope(scope)} is not paused`);
    this.deps.metrics.paused.set({ scope: pauseLabel(scope) }, 0);
    await this.emit({
      kind: "pause",
      ...scopeFields(scope),
      reason: `resumed ${describeScope(scope)}`,
      actor,
    });
    this.wakeScope(scope);
    return removed;
  }

  /** Clears quarantine, backoff and budget (and restart attempts) in the scope. */
  async reset(
    scope: PauseScope,
    actor = "api",
  ): Promise<{ cleared: ("quarantine" | "backoff" | "budget")[] }> {
    this.checkScope(scope);
    const deployments = this.deploymentsIn(scope);
    const cleared = new Set<"quarantine" | "backoff" | "budget">();
    for (const spec of deployments) {
      const host = scope.kind === "host" ? scope.host : undefined;
      for (const c of await this.deps.store.reset(spec, host)) cleared.add(c);
      for (const h of spec.hosts) {
        if (host === undefined || h.name === host)
          this.deps.metrics.quarantined.set({ deployment: spec.name, host: h.name }, 0);
      }
      if (host === undefined) this.deps.metrics.quarantined.set({ deployment: spec.name, host: "" }, 0);
      this.decider.forgetDeployment(spec.name);
    }
    if (scope.kind === "global" && (await this.deps.store.resetGlobalBudget())) cleared.add("budget");
    const list = [...cleared];
    await this.emit({
      kind: "decision",
      ...scopeFields(scope),
      reason: `reset ${describeScope(scope)}: cleared ${list.length > 0 ? list.join(", ") : "nothing"}`,
      actor,
    });
    this.wakeScope(scope);
    return { cleared: list };
  }

  async status(): Promise<ControllerStatus> {
    const { config, desired } = this.deps.getConfig();
    const now = this.now();
    const { since, ...breaker } = this.follower()
      ? await this.storedBreaker(desired)
      : { ...this.fleetBreaker(desired, config.remediation.breaker), since: this.breaker?.since };
    return controllerStatus({
      config,
      desired,
      now,
      store: this.deps.store,
      breaker,
      breakerSince: since,
      ...(this.deps.leader ? { leader: this.deps.leader } : {}),
      ...(this.deps.timezone ? { timezone: this.deps.timezone } : {}),
    });
  }

  // ---- internals ----

  /** Leader election is on and another process holds the lease. */
  private follower(): boolean {
    return this.deps.leader !== undefined && !this.deps.leader.isLeader();
  }

  /**
   * A process that does not lead does not probe: its health maps are empty or stale, so the
   * breaker it would work out from them means nothing. The leader's stored record is the breaker.
   */
  private async storedBreaker(desired: DesiredState): Promise<BreakerStatus & { since?: number }> {
    const stored = await this.deps.store.breaker();
    if (!stored) return { open: false, bad: 0, total: fleetKeys(desired).size };
    return { open: stored.open, bad: stored.bad, total: stored.total, since: stored.since };
  }

  /** Breaker over the whole fleet; an event and the gauge on every change, persisted across failover. */
  private async updateBreaker(now: number, record: boolean): Promise<BreakerStatus> {
    const { config, desired } = this.deps.getConfig();
    if (this.follower()) {
      // Read afresh when this process leads again: the record may have changed meanwhile.
      this.breaker = undefined;
      const { since: _since, ...status } = await this.storedBreaker(desired);
      return status;
    }
    const status = this.fleetBreaker(desired, config.remediation.breaker);
    if (!record) return status;
    if (this.breaker === undefined) {
      const stored = await this.deps.store.breaker();
      this.breaker = stored ? { open: stored.open, since: stored.since } : { open: false };
      this.deps.metrics.breakerOpen.set(this.breaker.open ? 1 : 0);
    }
    if (status.open !== this.breaker.open) {
      this.breaker = { open: status.open, since: now };
      await this.deps.store.setBreaker({
        open: status.open,
        since: now,
        bad: status.bad,
        total: status.total,
      });
      this.deps.metrics.breakerOpen.set(status.open ? 1 : 0);
      await this.emit({
        kind: "breaker",
        outcome: status.open ? "open" : "closed",
        reason: `${status.bad} of ${status.total} hosts bad (threshold ${config.remediation.breaker.unhealthyFraction})`,
      });
      if (!status.open) for (const d of desired.deployments) this.loop.wake(d.name);
    }
    return status;
  }

  /**
   * breakerStatus over every desired host, without walking the fleet: every pass over one
   * deployment asks, and 100 deployments × 10,000 hosts per sweep was a tenth of NixGuard's CPU.
   * Only the bad hosts (few, or the breaker is open anyway) are checked against the desired set.
   */
  private fleetBreaker(
    desired: DesiredState,
    cfg: LoadedConfig["config"]["remediation"]["breaker"],
  ): BreakerStatus {
    const fleet = fleetKeys(desired);
    const states: HostHealth["state"][] = new Array(fleet.size).fill("unknown");
    let i = 0;
    for (const [key, h] of this.deps.health.bad()) if (fleet.has(key)) states[i++] = h.state;
    return breakerStatus(states, cfg);
  }

  private async emit(e: Omit<NixGuardEvent, "time">): Promise<void> {
    try {
      await this.deps.events.append({ time: this.now(), ...e });
    } catch (err) {
      // A stale leader's event is refused like its other writes, and ends its pass.
      if (isFenced(err)) throw err;
      // The audit trail is best effort: losing an event must not stop remediation.
      this.deps.logger.warn({ err, kind: e.kind }, "could not append event");
    }
    this.deps.logger.info({ event: e }, "controller event");
  }

  private healthOf(spec: DeploymentSpec): Map<string, HostHealth> {
    const m = new Map<string, HostHealth>();
    for (const h of spec.hosts) {
      const hh = this.deps.health.get(spec.name, h.name);
      if (hh) m.set(h.name, hh);
    }
    return m;
  }

  private spec(name: string): DeploymentSpec {
    const spec = this.deps.getConfig().desired.deployments.find((d) => d.name === name);
    if (!spec) throw new NixGuardError("NOT_FOUND", `unknown deployment "${name}"`);
    return spec;
  }

  private checkScope(scope: PauseScope): void {
    if (scope.kind === "global") return;
    const spec = this.spec(scope.deployment);
    if (scope.kind === "host" && !spec.hosts.some((h) => h.name === scope.host)) {
      throw new NixGuardError("NOT_FOUND", `unknown host "${scope.host}" in deployment "${spec.name}"`);
    }
  }

  private deploymentsIn(scope: PauseScope): DeploymentSpec[] {
    const all = this.deps.getConfig().desired.deployments;
    return scope.kind === "global" ? [...all] : all.filter((d) => d.name === scope.deployment);
  }

  private wakeScope(scope: PauseScope): void {
    for (const d of this.deploymentsIn(scope)) this.loop.wake(d.name);
  }
}

/** Keys of every desired host, once per desired state (it is frozen; a reload makes a new one). */
const fleetKeyCache = new WeakMap<DesiredState, Set<string>>();
function fleetKeys(desired: DesiredState): Set<string> {
  let keys = fleetKeyCache.get(desired);
  if (!keys) {
    keys = new Set(allHosts(desired).map((h) => hostKey(h.deployment, h.name)));
    fleetKeyCache.set(desired, keys);
  }
  return keys;
}

function changed(prev: HostHealth, next: HostHealth): boolean {
  if (prev.state !== next.state || prev.currentSystem !== next.currentSystem) return true;
  const a = Object.values(prev.checks);
  const b = next.checks;
  if (a.length !== Object.keys(b).length) return true;
  return a.some((c) => b[c.id]?.state !== c.state);
}

function scopeFields(scope: PauseScope): { deployment?: string; host?: string } {
  if (scope.kind === "global") return {};
  if (scope.kind === "deployment") return { deployment: scope.deployment };
  return { deployment: scope.deployment, host: scope.host };
}

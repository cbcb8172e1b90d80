import type { DeploymentSpec } from "../config/desired.js";
import type { LoadedConfig } from "../config/load.js";
import type { Metrics } from "../metrics.js";
import type { ActionQueue } from "../queue/types.js";
import { hostsCoveredBy } from "./drift.js";
import { withVerdict } from "./generations.js";
import { type ActionOrigin, type BreakerStatus, evaluatePolicy, recordAttempt } from "./policy/index.js";
import type { PolicyState } from "./policy-state.js";
import type { PlannedAction } from "./reconciler.js";
import type { StateStore } from "./state-store.js";
import type { BlockReason, NixGuardEvent } from "./types.js";

export type Decision = PlannedAction & {
  decision: "enqueued" | "blocked" | "planned" | "quarantined";
  blockedBy?: BlockReason;
  detail?: string;
  /** Blocked: when the gate may open again. */
  until?: number;
  jobId?: string;
  enqueue?: "added" | "coalesced" | "rerun-scheduled";
  /** Restarts: every unit the job will restart (this request's and those asked before). */
  units?: string[];
};

export interface DeciderDeps {
  getConfig: () => LoadedConfig;
  queue: ActionQueue;
  store: StateStore;
  metrics: Metrics;
  emit: (e: Omit<NixGuardEvent, "time">) => Promise<void>;
  timezone?: string;
}

/**
 * One planned action through the gates and, when they all pass, into the queue (or into
 * quarantine), with the bookkeeping that makes the next decision right: attempts, budgets,
 * backoff, in-flight marks, pending generations. A blocked action is recorded once per gate.
 */
export class Decider {
  /** Last gate that blocked each key, per deployment: a blocked action is recorded once, not every pass. */
  private readonly lastBlocked = new Map<string, Map<string, string>>();

  constructor(private readonly deps: DeciderDeps) {}

  /** A reset: blocked actions of the deployment are news again. */
  forgetDeployment(deployment: string): void {
    this.lastBlocked.delete(deployment);
  }

  async decide(
    p: PlannedAction,
    spec: DeploymentSpec,
    state: PolicyState,
    breaker: BreakerStatus,
    origin: ActionOrigin,
    actor: string,
    dryRun: boolean,
    now: number,
  ): Promise<Decision> {
    const { config } = this.deps.getConfig();
    const gate = evaluatePolicy(
      {
        action: p.action,
        key: p.key,
        origin,
        deploymentHosts: spec.hosts.map((h) => h.name),
        config: config.remediation,
        pauses: state.pauses,
        breaker,
        inFlight: state.inFlight,
        ...(state.settleUntil !== undefined ? { settleUntil: state.settleUntil } : {}),
        backoff: state.backoff[p.key],
        budget: state.budget,
        quarantines: state.quarantines,
        holds: Object.values(state.holds),
        ...(this.deps.timezone ? { timezone: this.deps.timezone } : {}),
      },
      now,
    );
    if (!gate.allowed) {
      if (!dryRun) await this.recordBlocked(p, gate.reason, gate.detail, actor);
      return {
        ...p,
        decision: "blocked",
        blockedBy: gate.reason,
        detail: gate.detail,
        ...(gate.until !== undefined ? { until: gate.until } : {}),
      };
    }
    if (dryRun) return { ...p, decision: "planned" };
    this.lastBlocked.get(spec.name)?.delete(p.key);
    if (p.action.kind === "quarantine") return this.quarantine(p, actor, now);
    return this.enqueue(p, spec, state, origin, actor, now);
  }

  private async enqueue(
    p: PlannedAction,
    spec: DeploymentSpec,
    state: PolicyState,
    origin: ActionOrigin,
    actor: string,
    now: number,
  ): Promise<Decision> {
    const { config } = this.deps.getConfig();
    const r = config.remediation;
    const res = await this.deps.queue.enqueue({ action: p.action, actor, reason: p.reason });
    // A rerun is a run too: an automatic one spends an attempt and budget like a new job (only
    // a request folded into a job that has not started yet costs nothing).
    if (!origin.manual && res.state !== "coalesced") {
      const backoff = recordAttempt(state.backoff[p.key], r.backoff, now);
      await this.deps.store.recordAutomatic({
        deployment: spec.name,
        key: p.key,
        jobId: res.jobId,
        at: now,
        backoff,
        keepAttemptsMs: Math.max(r.restartWindow, r.budget.deployment.window, r.budget.global.window),
        budgetWindows: { deployment: r.budget.deployment.window, global: r.budget.global.window },
      });
      // Later actions of this same pass see it: one action per deployment at a time.
      state.backoff[p.key] = backoff;
      state.attempts[p.key] = [...(state.attempts[p.key] ?? []), now];
      state.budget.deployment.push(now);
      state.budget.global.push(now);
    } else {
      await this.deps.store.markInFlight(spec.name, p.key, res.jobId, now);
    }
    state.inFlight.push({ key: p.key, jobId: res.jobId, since: now });
    if (p.action.kind === "rollback" && p.action.from !== undefined && !origin.manual)
      await this.markBad(spec.name, p.action.host, p.action.from, p.action.broke ?? p.reason, now, state);
    const covered = hostsCoveredBy(p.action, spec);
    if (covered.length > 0) {
      await this.deps.store.markGenerationPending(spec.name, covered, 0);
      for (const h of covered) state.generationPending[h] = 0;
    }
    await this.deps.emit({
      kind: "action",
      deployment: spec.name,
      ...(p.action.host !== undefined ? { host: p.action.host } : {}),
      action: p.action.kind,
      reason: p.reason,
      outcome: res.state,
      jobId: res.jobId,
      actor,
    });
    return {
      ...p,
      decision: "enqueued",
      jobId: res.jobId,
      enqueue: res.state,
      ...(res.units ? { units: res.units } : {}),
    };
  }

  /**
   * The ladder gave up on this generation (it is being rolled back): bad, never deployed again
   * automatically. Kept in the host's generation memory.
   */
  private async markBad(
    deployment: string,
    host: string,
    path: string,
    reason: string,
    now: number,
    state: PolicyState,
  ): Promise<void> {
    const mem = state.memory[host] ?? (await this.deps.store.generationMemory(deployment, host));
    if (!mem?.entries.some((e) => e.path === path)) return;
    const next = withVerdict(mem, path, "bad", now, reason);
    await this.deps.store.setGenerationMemory(deployment, host, next);
    state.memory[host] = next;
  }

  /** Also the outcome of a rollback that found no generation to go back to: no gates, it is a consequence. */
  async quarantine(p: PlannedAction, actor: string, now: number): Promise<Decision> {
    const { config } = this.deps.getConfig();
    const { deployment, host } = p.action;
    const entry = {
      deployment,
      ...(host !== undefined ? { host } : {}),
      since: now,
      until: now + config.remediation.quarantine.cooldown,
      reason: p.reason,
    };
    await this.deps.store.setQuarantine(entry);
    this.deps.metrics.quarantined.set({ deployment, host: host ?? "" }, 1);
    this.deps.metrics.actionsTotal.inc({ deployment, action: "quarantine", outcome: "success" });
    await this.deps.emit({
      kind: "quarantine",
      deployment,
      ...(host !== undefined ? { host } : {}),
      action: "quarantine",
      reason: p.reason,
      actor,
    });
    return { ...p, decision: "quarantined" };
  }

  private async recordBlocked(
    p: PlannedAction,
    reason: string,
    detail: string,
    actor: string,
  ): Promise<void> {
    const seen = this.lastBlocked.get(p.action.deployment) ?? new Map<string, string>();
    this.lastBlocked.set(p.action.deployment, seen);
    if (seen.get(p.key) === reason) return;
    seen.set(p.key, reason);
    this.deps.metrics.actionsBlockedTotal.inc({ deployment: p.action.deployment, reason });
    await this.deps.emit({
      kind: "blocked",
      deployment: p.action.deployment,
      ...(p.action.host !== undefined ? { host: p.action.host } : {}),
      action: p.action.kind,
      reason: `${reason}: ${detail}`,
      actor,
    });
  }

  /** Keys no longer planned (healed, or ladder moved on) may be recorded again when next blocked. */
  forgetUnblocked(deployment: string, plan: readonly PlannedAction[]): void {
    const seen = this.lastBlocked.get(deployment);
    if (!seen) return;
    const planned = new Set(plan.map((p) => p.key));
    for (const key of seen.keys()) if (!planned.has(key)) seen.delete(key);
  }
}

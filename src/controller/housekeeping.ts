import type { DeploymentSpec, HostSpec } from "../config/desired.js";
import type { LoadedConfig } from "../config/load.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ActionQueue } from "../queue/types.js";
import { generationToRecord, hostsOfKey, isDrifted } from "./drift.js";
import {
  causeFor,
  emptyGenerations,
  generationName,
  judgeCurrent,
  noteSystem,
  type SwitchedBy,
} from "./generations.js";
import { holdEndedBy } from "./hold.js";
import { resetAfterHealth } from "./policy/backoff.js";
import { describeScope, pauseLabel } from "./policy/types.js";
import type { PolicyState } from "./policy-state.js";
import type { StateStore } from "./state-store.js";
import type { HostHealth, NixGuardEvent } from "./types.js";

export interface HousekeepingDeps {
  getConfig: () => LoadedConfig;
  queue: ActionQueue;
  store: StateStore;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
  emit: (e: Omit<NixGuardEvent, "time">) => Promise<void>;
}

/** An action marked in flight whose job the queue no longer knows, after this long, was lost. */
const LOST_JOB_GRACE_MS = 30_000;

/**
 * State upkeep before each pass over a deployment, level-triggered like the pass itself:
 * expired pauses, generations to record, in-flight marks whose job is gone, backoffs earned
 * back by sustained health, and drift. Mutates `state` so the pass sees the result.
 */
export class Housekeeping {
  /**
   * The nixguard_drift value last set per host. Keyed by the host's spec object: a reload makes
   * new ones, so a host removed (its series forgotten) and added back is set again. A labelled
   * set hashes its labels; doing it for every host on every pass was ~2 % of the CPU at 10,000.
   */
  private readonly driftShown = new WeakMap<HostSpec, 0 | 1>();

  constructor(private readonly deps: HousekeepingDeps) {}

  async run(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
    now: number,
  ): Promise<void> {
    await this.expirePauses(state, now);
    // Before recordGenerations: a pending mark says the switch is NixGuard's, and that clears it.
    await this.rememberGenerations(spec, state, health, now);
    await this.endHolds(spec, state, health);
    await this.recordGenerations(spec, state, health);
    await this.dropLostJobs(spec, state, now);
    await this.resetBackoffs(spec, state, health, now);
    await this.trackDrift(spec, state, health, now);
  }

  private async expirePauses(state: PolicyState, now: number): Promise<void> {
    const expired = state.pauses.filter((p) => p.until !== undefined && p.until <= now);
    for (const p of expired) {
      if (!(await this.deps.store.removePause(p.scope))) continue;
      this.deps.metrics.paused.set({ scope: pauseLabel(p.scope) }, 0);
      await this.deps.emit({
        kind: "pause",
        ...(p.scope.kind !== "global" ? { deployment: p.scope.deployment } : {}),
        ...(p.scope.kind === "host" ? { host: p.scope.host } : {}),
        reason: `pause of ${describeScope(p.scope)} expired`,
        actor: p.actor,
      });
    }
    state.pauses = state.pauses.filter((p) => !expired.includes(p));
  }

  /**
   * Generation memory: a system read after the last one NixGuard noted is a switch (NixGuard's
   * when one of its applies or rollbacks was pending on the host); a system up for
   * knownGoodAfter becomes known-good. Written only when it changed.
   */
  private async rememberGenerations(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
    now: number,
  ): Promise<void> {
    const { config } = this.deps.getConfig();
    const rb = config.remediation.rollback;
    const knownGoodAfter = rb.knownGoodAfter ?? 3 * config.remediation.settle;
    const causeWindow = Math.max(2 * config.probes.interval, config.remediation.settle);
    for (const host of spec.hosts) {
      const h = health.get(host.name);
      if (!h?.currentSystem || h.systemAt === undefined) continue;
      const before = state.memory[host.name] ?? emptyGenerations();
      let mem = before;
      if (before.current !== h.currentSystem) {
        const by: SwitchedBy = state.generationPending[host.name] !== undefined ? "nixguard" : "other";
        const others = spec.hosts.filter((o) => o.name !== host.name).map((o) => state.memory[o.name]);
        const seen = { at: h.systemSince ?? h.systemAt, by };
        const cause = causeFor(
          spec.name,
          seen,
          others.filter((m) => m !== undefined),
          causeWindow,
        );
        mem = noteSystem(before, { path: h.currentSystem, ...seen, cause }, rb.keep);
      }
      mem = judgeCurrent(mem, h, now, knownGoodAfter);
      if (mem === before) continue;
      await this.deps.store.setGenerationMemory(spec.name, host.name, mem);
      state.memory[host.name] = mem;
    }
  }

  /** A held host running a third generation (the panel's fix, an operator's deploy) is released. */
  private async endHolds(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
  ): Promise<void> {
    for (const [host, hold] of Object.entries(state.holds)) {
      const h = health.get(host);
      if (!h || h.systemAt === undefined || !holdEndedBy(hold, h.currentSystem)) continue;
      await this.deps.store.removeHold(spec.name, host);
      delete state.holds[host];
      this.deps.metrics.held.set({ deployment: spec.name, host }, 0);
      await this.deps.emit({
        kind: "hold",
        deployment: spec.name,
        host,
        outcome: "released",
        reason: `hold released: ${host} now runs ${generationName(h.currentSystem ?? "")}, neither the generation that broke it (${generationName(hold.bad)}) nor the one it was held at`,
      });
    }
  }

  private async recordGenerations(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
  ): Promise<void> {
    for (const [host, finishedAt] of Object.entries(state.generationPending)) {
      const h = health.get(host);
      const system = h ? generationToRecord(h, finishedAt) : undefined;
      if (system === undefined) continue;
      await this.deps.store.recordGeneration(spec.name, host, system);
      state.generations[host] = system;
      delete state.generationPending[host];
    }
  }

  /**
   * The worker reports outcomes, but a report can be lost (a process died between finishing and
   * telling). The queue is the truth: a mark without a job is cleared, and settles from now.
   */
  private async dropLostJobs(spec: DeploymentSpec, state: PolicyState, now: number): Promise<void> {
    const kept = [];
    for (const entry of state.inFlight) {
      if (now - entry.since < LOST_JOB_GRACE_MS || (await this.deps.queue.isInFlight(entry.key))) {
        kept.push(entry);
        continue;
      }
      const settleUntil = now + this.deps.getConfig().config.remediation.settle;
      await this.deps.store.finish(spec.name, entry.key, entry.jobId, settleUntil, now);
      state.settleUntil = Math.max(state.settleUntil ?? 0, settleUntil);
      this.deps.logger.warn(
        { deployment: spec.name, key: entry.key, jobId: entry.jobId },
        "in-flight job vanished",
      );
      if (entry.key.startsWith("redeploy__") || entry.key.startsWith("rollback__")) {
        const covered = hostsOfKey(spec, entry.key);
        await this.deps.store.markGenerationPending(spec.name, covered, now);
        for (const h of covered) state.generationPending[h] = now;
      }
    }
    state.inFlight = kept;
  }

  private async resetBackoffs(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
    now: number,
  ): Promise<void> {
    const cfg = this.deps.getConfig().config.remediation.backoff;
    const healthyFor = (host: string): number => {
      const h = health.get(host);
      return h && (h.state === "healthy" || h.state === "degraded") ? now - h.since : 0;
    };
    for (const [key, backoff] of Object.entries(state.backoff)) {
      if (state.inFlight.some((e) => e.key === key)) continue;
      const hosts = hostsOfKey(spec, key);
      if (hosts.length === 0) continue;
      const sustained = Math.min(...hosts.map(healthyFor));
      if (resetAfterHealth(backoff, sustained, cfg) !== undefined) continue;
      await this.deps.store.setBackoff(key, undefined);
      delete state.backoff[key];
    }
  }

  private async trackDrift(
    spec: DeploymentSpec,
    state: PolicyState,
    health: ReadonlyMap<string, HostHealth>,
    now: number,
  ): Promise<void> {
    const mode = this.deps.getConfig().config.remediation.drift;
    // From the mirrored records when this process serves the API (no Redis round trip per pass).
    const known = (await this.deps.store.policyRecords()).drift;
    for (const host of spec.hosts) {
      const h = health.get(host.name);
      const recorded = state.generations[host.name];
      const drifted =
        mode !== "ignore" && isDrifted(h, recorded, state.generationPending[host.name] !== undefined);
      const field = `${spec.name}/${host.name}`;
      if (drifted && known[field] === undefined) {
        await this.deps.store.setDrift(spec.name, host.name, now);
        this.showDrift(spec.name, host, 1);
        await this.deps.emit({
          kind: "drift",
          deployment: spec.name,
          host: host.name,
          reason: `running ${h?.currentSystem}, NixGuard deployed ${recorded}`,
          outcome: mode,
        });
      } else if (!drifted && known[field] !== undefined) {
        // Back to the recorded system, or NixGuard's own apply is replacing it.
        await this.deps.store.setDrift(spec.name, host.name, undefined);
        this.showDrift(spec.name, host, 0);
      } else {
        this.showDrift(spec.name, host, drifted ? 1 : 0);
      }
    }
  }

  private showDrift(deployment: string, host: HostSpec, value: 0 | 1): void {
    if (this.driftShown.get(host) === value) return;
    this.deps.metrics.drift.set({ deployment, host: host.name }, value);
    this.driftShown.set(host, value);
  }
}

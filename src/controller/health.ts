import type { HostSpec, UnitCheck } from "../config/desired.js";
import { timerService } from "../probes/systemd/companions.js";
import type { HostFacts, HostObservation, HttpResult } from "../probes/types.js";
import { type CrashLoopSettings, crashLoopReason, trackRestarts } from "./health/crash-loop.js";
import { type HysteresisContext, step, unknownCheck } from "./health/hysteresis.js";
import { judgeHttp, judgeUnit, type Verdict } from "./health/judge.js";
import type { CheckHealth, HostHealth, HostState } from "./types.js";

/**
 * Health evaluation: observations in, judged health out. Pure — no I/O, no clock (ctx.now) — so
 * the controller's decisions can be tested without hosts, Redis or time.
 */
export interface HealthContext extends HysteresisContext {
  thresholds: { diskUsedFraction: number; loadPerCpu: number };
  crashLoop: CrashLoopSettings;
}

export { judgeHttp, judgeUnit } from "./health/judge.js";

const pct = (f: number) => `${Math.round(f * 100)}%`;

/** Disk and load over thresholds: reasons for `degraded`, never for a restart. */
export function resourceReasons(facts: HostFacts | undefined, t: HealthContext["thresholds"]): string[] {
  if (!facts) return [];
  const out: string[] = [];
  for (const d of facts.disks) {
    if (d.usedFraction >= t.diskUsedFraction) {
      out.push(`disk ${d.mount} ${pct(d.usedFraction)} used (threshold ${pct(t.diskUsedFraction)})`);
    }
  }
  // The 5-minute average: a compile burst should not flap the host state.
  if (facts.load && facts.cpus && facts.load[1] / facts.cpus > t.loadPerCpu) {
    out.push(`load ${facts.load[1].toFixed(2)} on ${facts.cpus} CPUs (threshold ${t.loadPerCpu} per CPU)`);
  }
  return out;
}

/** The NixGuard host itself: over a threshold is a warning (status `degraded`), never an action. */
export function selfReasons(
  res: {
    load: [number, number, number];
    cpus: number;
    memory: { usedFraction: number };
    filesystems: { path: string; usedFraction: number }[];
  },
  t: { diskUsedFraction: number; loadPerCpu: number; memoryUsedFraction: number },
): string[] {
  const out: string[] = [];
  for (const fs of res.filesystems) {
    if (fs.usedFraction >= t.diskUsedFraction) {
      out.push(
        `filesystem of ${fs.path} ${pct(fs.usedFraction)} used (threshold ${pct(t.diskUsedFraction)})`,
      );
    }
  }
  if (res.memory.usedFraction >= t.memoryUsedFraction) {
    out.push(`memory ${pct(res.memory.usedFraction)} used (threshold ${pct(t.memoryUsedFraction)})`);
  }
  if (res.cpus > 0 && res.load[1] / res.cpus > t.loadPerCpu) {
    out.push(`load ${res.load[1].toFixed(2)} on ${res.cpus} CPUs (threshold ${t.loadPerCpu} per CPU)`);
  }
  return out;
}

/**
 * One unit's verdict from this observation and what its check remembers: a crash loop (restarts
 * piling up between observations) fails the unit whatever the snapshot says — a looping service
 * is as often caught `active (running)` as `activating (auto-restart)`.
 */
function judgeUnitOverTime(
  unit: UnitCheck,
  facts: HostFacts,
  before: CheckHealth | undefined,
  ctx: HealthContext,
): Verdict {
  const u = facts.units[unit.unit];
  const service = timerService(unit.unit);
  const v = judgeUnit(unit, u, service === undefined ? undefined : facts.units[service]);
  if (u?.loadState !== "loaded") return v;
  const { memory, loop, spell } = trackRestarts(
    before?.restarts,
    before?.lastObservedAt,
    u,
    ctx.now,
    ctx.crashLoop,
  );
  if (memory) v.restarts = memory;
  // Waiting in auto-restart fails by itself (judge.ts); the reason names the loop it is part of,
  // whichever rule got there first — on a quiet host usually this one, and NixGuard's own
  // restart resets NRestarts before the threshold is reached.
  if (!loop && spell && v.outcome === "fail") return { ...v, reason: crashLoopReason(spell) };
  if (!loop) return v;
  const now = u.activeState === "failed" ? `; now ${v.reason}` : "";
  return { ...v, outcome: "fail", reason: `${crashLoopReason(loop)}${now}` };
}

function resultFor(results: readonly HttpResult[], id: string): HttpResult | undefined {
  for (const r of results) if (r.check === id) return r;
  return undefined;
}

export function evaluateHost(
  prev: HostHealth | undefined,
  spec: HostSpec,
  obs: HostObservation,
  ctx: HealthContext,
): HostHealth {
  const checks: Record<string, CheckHealth> = {};
  let failureSeen = false;

  for (const unit of spec.units) {
    const before = prev?.checks[unit.id];
    const identity = { id: unit.id, kind: "systemd" as const };
    if (!obs.reachable || !obs.facts) {
      // Not observed this cycle: keep what we knew.
      checks[unit.id] = before ?? unknownCheck(identity, ctx.now, "not observed: host unreachable");
      continue;
    }
    const v = judgeUnitOverTime(unit, obs.facts, before, ctx);
    if (v.outcome === "fail") failureSeen = true;
    checks[unit.id] = step(before, identity, v, ctx);
  }

  for (const check of spec.http) {
    const before = prev?.checks[check.id];
    // step() and unknownCheck() copy the units list (or keep the previous copy): no copy here.
    const identity = { id: check.id, kind: "http" as const, units: check.units };
    const r = resultFor(obs.http, check.id);
    if (!r) {
      checks[check.id] = before ?? unknownCheck({ ...identity, units: [...check.units] }, ctx.now);
      continue;
    }
    const v = judgeHttp(r);
    if (v.outcome === "fail") failureSeen = true;
    const next = step(before, identity, v, ctx);
    const expires = r.tlsExpiresAt ?? before?.tlsExpiresAt;
    if (expires !== undefined) next.tlsExpiresAt = expires;
    checks[check.id] = next;
  }

  let state: HostState;
  let reasons: string[];
  let consecutiveUnreachable = 0;
  if (!obs.reachable) {
    const counted = ctx.suppress ? 0 : 1;
    consecutiveUnreachable = (prev?.consecutiveUnreachable ?? 0) + counted;
    const why = obs.error?.message ?? "transport failed";
    if (consecutiveUnreachable >= ctx.failureThreshold || prev?.state === "unreachable") {
      state = "unreachable";
      reasons = [`unreachable: ${why}`];
    } else {
      state = prev?.state ?? "unknown";
      reasons = [
        `transport failed (${consecutiveUnreachable}/${ctx.failureThreshold}): ${why}`,
        ...(prev?.reasons ?? []).filter((r) => !r.startsWith("transport failed")),
      ];
    }
  } else {
    // One pass over the checks; the lists are only built when some check is not healthy.
    let failing: string[] | undefined;
    let unknown: string[] | undefined;
    for (const id in checks) {
      const c = checks[id] as CheckHealth;
      if (c.state === "failing") {
        failing ??= [];
        failing.push(`${c.id}: ${c.reason}`);
      } else if (c.state === "unknown") {
        unknown ??= [];
        unknown.push(`${c.id}: ${c.reason}`);
      }
    }
    const resources = resourceReasons(obs.facts, ctx.thresholds);
    if (failing) {
      state = "failing";
      reasons = resources.length > 0 ? [...failing, ...resources] : failing;
    } else if (resources.length > 0) {
      state = "degraded";
      reasons = resources;
    } else if (unknown) {
      state = "unknown";
      reasons = unknown;
    } else {
      state = "healthy";
      // The previous empty list when there was one: nothing to allocate for a healthy host.
      reasons = prev?.state === "healthy" && prev.reasons.length === 0 ? prev.reasons : [];
    }
  }

  const health: HostHealth = {
    deployment: spec.deployment,
    host: spec.name,
    state,
    since: prev && prev.state === state ? prev.since : ctx.now,
    reasons,
    checks,
    lastObservedAt: obs.at,
    consecutiveUnreachable,
  };
  // The system is carried over a probe that could not read it, with the time it *was* read: an
  // apply's generation must come from a reading taken after the apply (drift.ts).
  if (obs.facts?.currentSystem !== undefined) {
    health.currentSystem = obs.facts.currentSystem;
    health.systemAt = obs.at;
    // When this system was first read: a generation's start, which the rollback rung counts
    // restarts from, must not move with housekeeping that runs a few probes late.
    const same = prev?.currentSystem === obs.facts.currentSystem;
    health.systemSince = same ? (prev?.systemSince ?? prev?.systemAt ?? obs.at) : obs.at;
  } else if (prev?.currentSystem !== undefined) {
    health.currentSystem = prev.currentSystem;
    if (prev.systemAt !== undefined) health.systemAt = prev.systemAt;
    if (prev.systemSince !== undefined) health.systemSince = prev.systemSince;
  }
  if (ctx.suppress && (failureSeen || !obs.reachable)) health.suppressed = true;
  return health;
}

import type { CheckHealth } from "../types.js";
import type { Verdict } from "./judge.js";

export interface HysteresisContext {
  now: number;
  failureThreshold: number;
  successThreshold: number;
  /** An action is in flight or settling: failures are recorded, not counted. */
  suppress: boolean;
}

export type CheckIdentity = Pick<CheckHealth, "id" | "kind"> & { units?: string[] };

/** A check nobody has observed yet. */
export function unknownCheck(id: CheckIdentity, now: number, reason = "not observed yet"): CheckHealth {
  return {
    ...id,
    state: "unknown",
    since: now,
    reason,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
  };
}

/**
 * Kubernetes-probe hysteresis: `failureThreshold` consecutive failures turn a check failing,
 * `successThreshold` consecutive passes turn it healthy; a check starts unknown. Pending
 * observations change no counter. While suppressed, a failure breaks a success streak but does
 * not count towards failing.
 */
export function step(
  prev: CheckHealth | undefined,
  id: CheckIdentity,
  v: Verdict,
  ctx: HysteresisContext,
): CheckHealth {
  const base = prev ?? unknownCheck(id, ctx.now);
  let { state, since, consecutiveFailures, consecutiveSuccesses } = base;
  if (v.outcome === "pass") {
    consecutiveSuccesses += 1;
    consecutiveFailures = 0;
    if (state !== "healthy" && consecutiveSuccesses >= ctx.successThreshold) state = "healthy";
  } else if (v.outcome === "fail") {
    consecutiveSuccesses = 0;
    if (!ctx.suppress) {
      consecutiveFailures += 1;
      if (state !== "failing" && consecutiveFailures >= ctx.failureThreshold) state = "failing";
    }
  }
  if (state !== base.state) since = ctx.now;
  // Built field by field, in the order `{ ...id, state, ... }` had, so every CheckHealth shares
  // one shape; the units list is the previous one when it has not changed (this runs for every
  // check of every probe: a copy and a spread each time were a steady share of the garbage).
  const next: CheckHealth = { id: id.id, kind: id.kind } as CheckHealth;
  if (id.units) next.units = prev?.units && sameList(prev.units, id.units) ? prev.units : [...id.units];
  next.state = state;
  next.since = since;
  next.lastObservedAt = ctx.now;
  next.reason = v.reason === base.reason ? base.reason : v.reason;
  next.consecutiveFailures = consecutiveFailures;
  next.consecutiveSuccesses = consecutiveSuccesses;
  if (v.missing) next.missing = true;
  if (v.activeState !== undefined) next.activeState = v.activeState;
  return next;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

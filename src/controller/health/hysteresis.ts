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
  // One object literal with every field it can have (the absent ones undefined, which JSON and
  // the API's serializer leave out): fields added after creation do not fit in the object and go
  // to a separate backing store, ~50 B more per check, and every host keeps its checks' health.
  // The units list is the previous one when it has not changed (this runs for every check of
  // every probe).
  const units = id.units ?? v.restart;
  const next: CheckHealth = {
    id: id.id,
    kind: id.kind,
    units: units && (prev?.units && sameList(prev.units, units) ? prev.units : [...units]),
    state,
    since,
    lastObservedAt: ctx.now,
    reason: v.reason === base.reason ? base.reason : v.reason,
    consecutiveFailures,
    consecutiveSuccesses,
    activeState: v.activeState,
    restarts: v.restarts,
  };
  if (v.missing) next.missing = true;
  return next;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

import type { HostGenerations } from "./generations.js";
import type { HoldEntry } from "./hold.js";
import type { InFlightEntry } from "./policy/inflight.js";
import type { BackoffState, Pause, QuarantineEntry } from "./policy/types.js";

/**
 * The controller's memory for one deployment, as read from the state store before each
 * reconcile. It lives in Redis so a restart or a failover to another process forgets nothing.
 */
export interface PolicyState {
  /** Epoch ms of automatic actions queued, per action key: restart attempts, redeploys. */
  attempts: Record<string, number[]>;
  /** Per action key. */
  backoff: Record<string, BackoffState>;
  /** Epoch ms of automatic actions counted against the budgets. */
  budget: { deployment: number[]; global: number[] };
  /** Quarantines of this deployment and its hosts (expired ones may still be listed). */
  quarantines: QuarantineEntry[];
  /** Pauses that can cover this deployment: global, its own, its hosts'. */
  pauses: Pause[];
  inFlight: InFlightEntry[];
  settleUntil?: number;
  /** /run/current-system per host, recorded after NixGuard's own applies. */
  generations: Record<string, string>;
  /**
   * Hosts NixGuard is changing: an apply is queued or running (value 0), or finished at the value
   * (epoch ms) and the next observation after it becomes the recorded generation.
   */
  generationPending: Record<string, number>;
  /** Generation memory per host name (generations.ts). */
  memory: Record<string, HostGenerations>;
  /** Hosts held at the generation NixGuard rolled them back to (hold.ts). */
  holds: Record<string, HoldEntry>;
}

export function emptyPolicyState(): PolicyState {
  return {
    attempts: {},
    backoff: {},
    budget: { deployment: [], global: [] },
    quarantines: [],
    pauses: [],
    inFlight: [],
    generations: {},
    generationPending: {},
    memory: {},
    holds: {},
  };
}

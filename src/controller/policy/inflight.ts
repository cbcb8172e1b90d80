import { type ActionOrigin, ALLOW, blocked, type GateResult } from "./types.js";

export interface InFlightEntry {
  key: string;
  jobId: string;
  since: number;
}

export interface InFlightInput {
  /** Actions of this deployment queued or running. */
  inFlight: readonly InFlightEntry[];
  /** After an action finishes, the deployment settles: probes must see its effect first. */
  settleUntil?: number;
  origin: ActionOrigin;
}

/**
 * One automatic action per deployment at a time, then a settle period. Manual requests skip it:
 * the queue coalesces them into the running job or runs them once after it.
 */
export function inFlightGate(input: InFlightInput, now: number): GateResult {
  if (input.origin.manual) return ALLOW;
  const running = input.inFlight[0];
  if (running) return blocked("inflight", `${running.key} in flight (job ${running.jobId})`);
  if (input.settleUntil !== undefined && input.settleUntil > now) {
    return blocked(
      "inflight",
      `settling until ${new Date(input.settleUntil).toISOString()}`,
      input.settleUntil,
    );
  }
  return ALLOW;
}

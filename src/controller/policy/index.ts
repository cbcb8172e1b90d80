import type { Action } from "../../action.js";
import type { HoldEntry } from "../hold.js";
import type { BlockReason } from "../types.js";
import { backoffGate } from "./backoff.js";
import { type BreakerStatus, breakerGate } from "./breaker.js";
import { budgetGate } from "./budget.js";
import { heldGate } from "./held.js";
import { type InFlightEntry, inFlightGate } from "./inflight.js";
import { maintenanceGate } from "./maintenance.js";
import { modeGate } from "./mode.js";
import { pauseGate } from "./pause.js";
import { quarantineGate } from "./quarantine.js";
import {
  type ActionOrigin,
  ALLOW,
  type BackoffState,
  type GateResult,
  type Pause,
  type QuarantineEntry,
  type RemediationConfig,
} from "./types.js";

export * from "./backoff.js";
export * from "./breaker.js";
export * from "./budget.js";
export * from "./held.js";
export * from "./inflight.js";
export * from "./maintenance.js";
export * from "./mode.js";
export * from "./pause.js";
export * from "./quarantine.js";
export * from "./types.js";

/** Everything the gates read about one planned action, gathered by the controller. */
export interface PolicyInput {
  action: Action;
  key: string;
  origin: ActionOrigin;
  /** All hosts of the action's deployment (a deployment-wide apply touches each of them). */
  deploymentHosts: readonly string[];
  config: RemediationConfig;
  pauses: readonly Pause[];
  breaker: BreakerStatus;
  inFlight: readonly InFlightEntry[];
  settleUntil?: number;
  backoff: BackoffState | undefined;
  budget: { deployment: readonly number[]; global: readonly number[] };
  quarantines: readonly QuarantineEntry[];
  /** Hosts of the deployment held after a rollback. */
  holds?: readonly HoldEntry[];
  timezone?: string;
}

/** Hosts an action changes: its own host, or every host of the deployment for a deployment apply. */
export function touchedHosts(action: Action, deploymentHosts: readonly string[]): string[] {
  if (action.kind === "redeploy" && action.host === undefined) return [...deploymentHosts];
  return action.host === undefined ? [] : [action.host];
}

type Gate = { reason: BlockReason; run: (input: PolicyInput, now: number) => GateResult };

/** The design's order: the first gate that blocks names the reason. */
export const GATES: readonly Gate[] = [
  {
    reason: "mode",
    run: (i, now) => modeGate({ mode: i.config.mode, action: i.action, origin: i.origin }, now),
  },
  {
    reason: "paused",
    run: (i, now) =>
      pauseGate(
        {
          deployment: i.action.deployment,
          touchedHosts: touchedHosts(i.action, i.deploymentHosts),
          pauses: i.pauses,
          origin: i.origin,
        },
        now,
      ),
  },
  {
    reason: "maintenance",
    run: (i, now) =>
      maintenanceGate(
        {
          deployment: i.action.deployment,
          windows: i.config.maintenance,
          origin: i.origin,
          ...(i.timezone ? { timezone: i.timezone } : {}),
        },
        now,
      ),
  },
  { reason: "breaker", run: (i, now) => breakerGate({ breaker: i.breaker, origin: i.origin }, now) },
  {
    reason: "inflight",
    run: (i, now) =>
      inFlightGate(
        {
          inFlight: i.inFlight,
          origin: i.origin,
          ...(i.settleUntil !== undefined ? { settleUntil: i.settleUntil } : {}),
        },
        now,
      ),
  },
  {
    reason: "backoff",
    run: (i, now) => backoffGate({ key: i.key, state: i.backoff, origin: i.origin }, now),
  },
  {
    reason: "budget",
    run: (i, now) =>
      budgetGate(
        {
          deployment: i.action.deployment,
          perDeployment: { times: i.budget.deployment, ...i.config.budget.deployment },
          global: { times: i.budget.global, ...i.config.budget.global },
          origin: i.origin,
        },
        now,
      ),
  },
  {
    reason: "quarantine",
    run: (i, now) =>
      quarantineGate(
        {
          deployment: i.action.deployment,
          touchedHosts: touchedHosts(i.action, i.deploymentHosts),
          entries: i.quarantines,
          origin: i.origin,
        },
        now,
      ),
  },
  {
    reason: "held",
    run: (i, now) =>
      heldGate(
        {
          action: i.action,
          touchedHosts: touchedHosts(i.action, i.deploymentHosts),
          holds: i.holds ?? [],
          origin: i.origin,
        },
        now,
      ),
  },
];

/**
 * Quarantining is the ladder's last rung, not a remediation: budget and backoff exist to lead
 * to it, so they must not hold it. It still waits for the running action to settle.
 */
const QUARANTINE_GATES = new Set<BlockReason>(["mode", "paused", "maintenance", "breaker", "inflight"]);

export function evaluatePolicy(input: PolicyInput, now: number): GateResult {
  for (const gate of GATES) {
    if (input.action.kind === "quarantine" && !QUARANTINE_GATES.has(gate.reason)) continue;
    const result = gate.run(input, now);
    if (!result.allowed) return result;
  }
  return ALLOW;
}

import type { Action } from "../../action.js";
import type { Config } from "../../config/schema.js";
import type { BlockReason } from "../types.js";

/**
 * What every gate returns. `until` (epoch ms), when known, is the earliest moment the gate could
 * open again: the loop requeues the deployment then instead of polling.
 */
export type GateResult =
  | { allowed: true }
  | { allowed: false; reason: BlockReason; detail: string; until?: number };

export const ALLOW: GateResult = Object.freeze({ allowed: true });

export type RemediationConfig = Config["remediation"];
export type Mode = RemediationConfig["mode"];

/** Pause scopes, from the widest to the narrowest. */
export type PauseScope =
  | { kind: "global" }
  | { kind: "deployment"; deployment: string }
  | { kind: "host"; deployment: string; host: string };

export interface Pause {
  scope: PauseScope;
  reason: string;
  actor: string;
  since: number;
  /** Epoch ms; absent: until resumed. */
  until?: number;
}

export interface QuarantineEntry {
  deployment: string;
  /** Absent: the whole deployment. */
  host?: string;
  since: number;
  /** since + cooldown: automatic action resumes after this even without a reset. */
  until: number;
  reason: string;
}

export interface BackoffState {
  /** Automatic actions on this key since it was last healthy for `resetAfter`. */
  attempts: number;
  /** No automatic action on this key before this time. */
  nextAt: number;
}

/** Where the action comes from: the ladder and schedules are automatic, the API is manual. */
export interface ActionOrigin {
  manual: boolean;
  /** Manual only: also pass mode, pause, maintenance and breaker. */
  force: boolean;
}

export const AUTOMATIC: ActionOrigin = Object.freeze({ manual: false, force: false });

/** Stable string for a scope: names cannot contain "/" or ":" (grammar.ts), so these never collide. */
export function scopeKey(scope: PauseScope): string {
  switch (scope.kind) {
    case "global":
      return "global";
    case "deployment":
      return `d:${scope.deployment}`;
    case "host":
      return `h:${scope.deployment}/${scope.host}`;
  }
}

/** The `scope` label of nixguard_paused: bounded by the config's names. */
export function pauseLabel(scope: PauseScope): string {
  switch (scope.kind) {
    case "global":
      return "global";
    case "deployment":
      return `deployment/${scope.deployment}`;
    case "host":
      return `host/${scope.deployment}/${scope.host}`;
  }
}

export function describeScope(scope: PauseScope): string {
  switch (scope.kind) {
    case "global":
      return "everything";
    case "deployment":
      return `deployment ${scope.deployment}`;
    case "host":
      return `host ${scope.deployment}/${scope.host}`;
  }
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case "restart":
      return `restart ${a.units.join(", ")} on ${a.deployment}/${a.host}`;
    case "redeploy":
      return `redeploy ${a.deployment} (target ${a.target})`;
    case "quarantine":
      return a.host ? `quarantine ${a.deployment}/${a.host}` : `quarantine ${a.deployment}`;
    case "rollback": {
      const to = a.toGeneration !== undefined ? `generation ${a.toGeneration}` : (a.to[0] ?? "?");
      return `roll ${a.deployment}/${a.host} back to ${to}`;
    }
  }
}

export const blocked = (reason: BlockReason, detail: string, until?: number): GateResult =>
  until === undefined ? { allowed: false, reason, detail } : { allowed: false, reason, detail, until };

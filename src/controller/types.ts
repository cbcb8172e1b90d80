/** Shared vocabulary of the controller: health as judged, events as recorded. */
import type { ActionKind } from "../action.js";

import type { RestartMemory } from "./health/crash-loop.js";

export type HostState = "healthy" | "degraded" | "failing" | "unreachable" | "unknown";
export const HOST_STATES: readonly HostState[] = ["healthy", "degraded", "failing", "unreachable", "unknown"];

export type CheckState = "healthy" | "failing" | "unknown";

export interface CheckHealth {
  id: string; // unit name or `http:<name>`
  kind: "systemd" | "http";
  state: CheckState;
  since: number; // epoch ms the state was entered
  lastObservedAt?: number;
  reason: string;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** systemd checks: the unit is not installed on the host (LoadState=not-found) → redeploy, not restart. */
  missing?: boolean;
  /** systemd checks: the unit's last observed ActiveState (active units tie into HTTP failures). */
  activeState?: string;
  /**
   * Units restarted to heal this check when they are not its own unit: an http check's units (the
   * catalog ties them to it), a timer's service whose last run failed.
   */
  units?: string[];
  /** systemd checks: restarts seen over time, for crash loops (health/crash-loop.ts). */
  restarts?: RestartMemory;
  /** http checks: epoch ms when the leaf TLS certificate last seen expires. */
  tlsExpiresAt?: number;
}

export interface HostHealth {
  deployment: string;
  host: string;
  state: HostState;
  since: number;
  reasons: string[];
  checks: Record<string, CheckHealth>;
  currentSystem?: string;
  /** When currentSystem was read (an unreachable probe carries it over unread). */
  systemAt?: number;
  /** When currentSystem was first read (the switch to it, as near as probes can tell). */
  systemSince?: number;
  lastObservedAt?: number;
  /** Failures seen while an action was in flight or settling: recorded, not counted. */
  suppressed?: boolean;
  /** Consecutive probes whose transport failed; `failureThreshold` of them make it unreachable. */
  consecutiveUnreachable?: number;
}

export const isBad = (s: HostState): boolean => s === "failing" || s === "unreachable";

/** Judged health as the controller reads it (runtime/health-book.ts keeps it). */
export interface HealthView {
  get(deployment: string, host: string): HostHealth | undefined;
  /** Hosts whose state is bad (failing, unreachable), by host key: few, or the breaker opens. */
  bad(): Iterable<[string, HostHealth]>;
  /** Forgets hosts last observed longer than probes.maxHealthAge before `now`. */
  forgetStale(now: number): number;
}

export type BlockReason =
  | "mode"
  | "paused"
  | "maintenance"
  | "breaker"
  | "inflight"
  | "backoff"
  | "budget"
  | "quarantine"
  | "held";
export const BLOCK_REASONS: readonly BlockReason[] = [
  "mode",
  "paused",
  "maintenance",
  "breaker",
  "inflight",
  "backoff",
  "budget",
  "quarantine",
  "held",
];

export type EventKind =
  | "detect"
  | "recover"
  | "decision"
  | "blocked"
  | "action"
  | "outcome"
  | "quarantine"
  | "breaker"
  | "drift"
  | "unreachable"
  | "pause"
  | "config"
  | "leader"
  /** A host held at the generation NixGuard rolled it back to (started, released). */
  | "hold"
  /** One apply named once as what broke the hosts rolled back after it. */
  | "cause";

export interface NixGuardEvent {
  time: number;
  kind: EventKind;
  deployment?: string;
  host?: string;
  action?: ActionKind;
  reason?: string;
  outcome?: string;
  jobId?: string;
  /** Who asked, for manual actions: the API token's name, `schedule`, or `controller`. */
  actor?: string;
  id?: string; // stream id, set when read back
}

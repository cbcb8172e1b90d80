import type { Job } from "bullmq";
import type { ActionJobData, ActionOutcomeKind } from "../action.js";
import type { DesiredState, HostSpec } from "../config/desired.js";
import type { Logger } from "../log.js";
import type { TransportBorrow } from "../probes/transports/registry.js";
import type { FlakeLock } from "./flake-lock.js";
import type { JobLogStore } from "./job-log.js";
import type { Nixops4Settings } from "./nixops4.js";
import type { RestartUnits } from "./restart-units.js";

/** What a job handler needs; built once per worker. */
export interface HandlerDeps {
  logger: Logger;
  getDesired: () => DesiredState;
  /** Borrows the host's transport; a job releases it and never closes it (the registry owns it). */
  borrow: TransportBorrow;
  nixops4: Nixops4Settings;
  logs: JobLogStore;
  locks: FlakeLock;
  /** Units asked for per restart key: a run restarts them all (restart-units.ts). */
  units: RestartUnits;
  /** How long a job waits for a busy flake directory before it steps aside (delayed). */
  lockWaitMs: number;
  /** How far a job steps aside when the flake directory stays busy. */
  lockRetryMs: number;
  /** remediation.restartTimeout, read at each restart (a reload applies to the next one). */
  restartTimeoutMs: () => number;
  /** Environment added for nixops4's own ssh (identity, known hosts); see nixops4/ssh-env.ts. */
  nixops4Env?: () => Record<string, string>;
  /** remediation.rollback.switchTimeout, read at each rollback. */
  rollbackTimeoutMs?: () => number;
}

/** One job being handled. */
export interface JobRun {
  job: Job<ActionJobData>;
  token: string;
  /** Aborts on shutdown past the grace (`shutdown.aborted` tells which) or BullMQ cancel. */
  signal: AbortSignal;
  shutdown: AbortSignal;
}

export interface HandlerResult {
  outcome: ActionOutcomeKind;
  message: string;
  exitCode?: number;
  durationMs: number;
  /** rollback: the system the host was switched to. */
  switchedTo?: string;
}

/** The job's host as configured now, or the cancelled result for a host a reload removed. */
export function configuredHost(
  deps: HandlerDeps,
  action: { deployment: string; host: string },
): HostSpec | HandlerResult {
  const host = deps
    .getDesired()
    .deployments.find((d) => d.name === action.deployment)
    ?.hosts.find((h) => h.name === action.host);
  return (
    host ?? {
      outcome: "cancelled",
      message: `host ${action.deployment}/${action.host} is no longer configured`,
      durationMs: 0,
    }
  );
}

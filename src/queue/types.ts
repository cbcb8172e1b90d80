import type { Action } from "../controller/types.js";

/** Contract between the controller/API (producers) and the worker (consumer). */

export interface ActionRequest {
  action: Action;
  /** Who asked: `controller`, `schedule`, or the API token's name. */
  actor: string;
  /** Why, in a few words (`mastodon-web.service failed`, `drift`, `manual`). */
  reason: string;
}

export interface ActionJobData extends ActionRequest {
  key: string; // actionKey(action)
  requestedAt: number;
}

export type EnqueueResult =
  /** A new job was added. */
  | { state: "added"; jobId: string }
  /** A job for this key was waiting: the request coalesced into it. */
  | { state: "coalesced"; jobId: string }
  /** A job for this key is running: it will run once more after it finishes (client-go dirty set). */
  | { state: "rerun-scheduled"; jobId: string };

export type ActionOutcomeKind =
  | "success"
  | "failed" // nixops4 exit 1, systemctl restart failed
  | "panic" // nixops4 exit 101
  | "timeout"
  | "not-found" // nixops4 (or ssh) not on PATH
  | "unreachable" // transport could not reach the host
  | "cancelled"; // shutdown or host removed by config reload

export interface ActionOutcome {
  key: string;
  jobId: string;
  action: Action;
  actor: string;
  outcome: ActionOutcomeKind;
  startedAt: number;
  finishedAt: number;
  message: string;
  exitCode?: number;
}

export type QueueState = "waiting" | "active" | "delayed" | "failed" | "completed";

export interface ActionQueue {
  enqueue(req: ActionRequest): Promise<EnqueueResult>;
  /** A job of this key is waiting, delayed or active. */
  isInFlight(key: string): Promise<boolean>;
  counts(): Promise<Record<"waiting" | "active" | "delayed" | "failed", number>>;
  /** Config reload removed a host: drop its waiting jobs. Returns how many. */
  cancelForHost(deployment: string, host: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * An action and its job: the contract between the producers (controller, API) and the consumer
 * (the queue's worker). Both sides import it; neither imports the other for it.
 */

export type Action =
  | { kind: "restart"; deployment: string; host: string; units: string[] }
  | { kind: "redeploy"; deployment: string; target: string; host?: string }
  | { kind: "quarantine"; deployment: string; host?: string }
  /**
   * Switch the host back to the first of `to` (store paths, newest known-good first) still on
   * it; `toGeneration` (manual) names a profile generation number instead. `from`: the system
   * it leaves (the generation judged bad), when known.
   */
  | {
      kind: "rollback";
      deployment: string;
      host: string;
      to: string[];
      toGeneration?: number;
      from?: string;
      /** What failed on `from`: the hold's alert says it. */
      broke?: string;
    };

export type ActionKind = Action["kind"];

/**
 * Job / action key: BullMQ refuses ':' in custom ids, names cannot contain "__" (grammar.ts),
 * so `__` separates parts unambiguously.
 */
export function actionKey(a: Action): string {
  switch (a.kind) {
    case "restart":
      return `restart__${a.deployment}__${a.host}`;
    case "redeploy":
      return a.host ? `redeploy__${a.deployment}__${a.host}` : `redeploy__${a.deployment}`;
    case "quarantine":
      return a.host ? `quarantine__${a.deployment}__${a.host}` : `quarantine__${a.deployment}`;
    case "rollback":
      return `rollback__${a.deployment}__${a.host}`;
  }
}

/**
 * The host an action key names (its third part), or undefined for a key over a whole deployment
 * (a deployment's redeploy or quarantine). The inverse of actionKey's layout.
 */
export function actionKeyHost(key: string): string | undefined {
  return key.split("__")[2];
}

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
  /**
   * Added by the leader's planning: its lease identity and fencing token. The worker runs such
   * a job only once the enqueuer committed it while that token was current (redis/fence.ts).
   */
  fence?: { identity: string; token: number };
}

export type EnqueueResult =
  /** A new job was added. */
  (
    | { state: "added"; jobId: string }
    /** A job for this key was waiting: the request coalesced into it. */
    | { state: "coalesced"; jobId: string }
    /** A job for this key is running: it will run once more after it finishes (client-go dirty set). */
    | { state: "rerun-scheduled"; jobId: string }
  ) & {
    /** Restarts: every unit the job will restart — this request's and those asked before it. */
    units?: string[];
  };

export type ActionOutcomeKind =
  | "success"
  | "failed" // nixops4 exit 1, systemctl restart failed
  | "usage-error" // nixops4 exit 2: its command line was refused; never retried
  | "panic" // nixops4 exit 101
  | "timeout"
  | "not-found" // nixops4 (or ssh) not on PATH; rollback: the generation is no longer on the host
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
  /** rollback: the system the host was switched to. */
  switchedTo?: string;
}

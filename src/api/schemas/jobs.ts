import { BLOCK_REASONS } from "../../controller/types.js";
import { ACTION_KINDS, ACTION_OUTCOMES } from "../../metrics.js";
import { arr, epochMs, int, obj, str, strEnum } from "./common.js";

/** JSON Schemas of actions, jobs, logs, events and command results (controller/types.ts, queue/types.ts). */

export const JOB_STATES = ["waiting", "active", "delayed", "failed", "completed"] as const;
export const OUTCOMES = ACTION_OUTCOMES;
export const EVENT_KINDS = [
  "detect",
  "recover",
  "decision",
  "blocked",
  "action",
  "outcome",
  "quarantine",
  "breaker",
  "drift",
  "unreachable",
  "pause",
  "config",
  "leader",
] as const;
export const ENQUEUE_STATES = ["added", "coalesced", "rerun-scheduled"] as const;

/** The three action shapes flattened into one: `kind` says which of the optional fields apply. */
export const ActionSchema = obj(
  {
    kind: strEnum(ACTION_KINDS),
    deployment: str(),
    host: str(),
    units: arr(str()),
    target: str(),
  },
  ["kind", "deployment"],
);

export const JobSchema = obj(
  {
    id: str(),
    key: str(),
    state: strEnum(JOB_STATES),
    action: ActionSchema,
    actor: str(),
    reason: str(),
    requestedAt: epochMs,
    startedAt: epochMs,
    finishedAt: epochMs,
    outcome: strEnum(OUTCOMES),
    message: str(),
    exitCode: int(),
    progress: obj(
      {
        planned: int(),
        started: int(),
        finished: int(),
        running: arr(str()),
        message: str(),
      },
      ["started", "finished", "running", "message"],
    ),
  },
  ["id", "key", "state", "action", "actor", "reason", "requestedAt"],
);

export const LogLineSchema = obj(
  { time: epochMs, stream: strEnum(["stdout", "stderr", "nixguard"]), text: str() },
  ["time", "stream", "text"],
);

export const EventSchema = obj(
  {
    id: str(),
    time: epochMs,
    kind: strEnum(EVENT_KINDS),
    deployment: str(),
    host: str(),
    action: strEnum(ACTION_KINDS),
    reason: str(),
    outcome: str(),
    jobId: str(),
    actor: str(),
  },
  ["time", "kind"],
);

export const CommandResultSchema = obj(
  {
    key: str(),
    jobId: str(),
    state: strEnum(ENQUEUE_STATES),
    units: arr(str(), {
      description: "restarts: every unit the job will restart, this request's and earlier ones",
    }),
  },
  ["key", "jobId", "state"],
);

export const PlannedActionSchema = obj(
  {
    key: str(),
    action: ActionSchema,
    decision: strEnum(["enqueued", "blocked", "planned"]),
    blockedBy: strEnum(BLOCK_REASONS),
    jobId: str(),
    enqueue: strEnum(ENQUEUE_STATES),
  },
  ["key", "action", "decision"],
);

export const ReconcileResultSchema = obj(
  { dryRun: { type: "boolean" }, deployments: arr(str()), actions: arr(PlannedActionSchema) },
  ["dryRun", "deployments", "actions"],
);

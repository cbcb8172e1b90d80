import { QUEUE_STATES } from "../../metrics.js";
import { arr, bool, countsBy, epochMs, hostStateCounts, int, num, obj, str, strEnum } from "./common.js";
import { HostHealthSchema } from "./health.js";
import { OUTCOMES } from "./jobs.js";

/** JSON Schemas of fleet-wide state: status, deployments, pauses, resets, reloads. */

export const PauseScopeSchema = obj(
  { kind: strEnum(["global", "deployment", "host"]), deployment: str(), host: str() },
  ["kind"],
);

export const PauseInfoSchema = obj(
  { scope: PauseScopeSchema, reason: str(), actor: str(), since: epochMs, until: epochMs },
  ["scope", "reason", "actor", "since"],
);

export const HoldSchema = obj(
  {
    deployment: str(),
    host: str(),
    bad: str({ description: "The generation that broke the host" }),
    to: str({ description: "The generation NixGuard rolled it back to" }),
    since: epochMs,
    reason: str({ description: "What failed on the bad generation" }),
    cause: str({ description: "The apply that brought it" }),
    actor: str(),
  },
  ["deployment", "host", "bad", "to", "since", "reason", "actor"],
);

export const HostGenerationsSchema = obj(
  {
    deployment: str(),
    host: str(),
    current: str(),
    generations: arr(
      obj(
        {
          path: str(),
          firstSeen: epochMs,
          since: epochMs,
          by: strEnum(["nixguard", "other"]),
          cause: str(),
          verdict: strEnum(["unknown", "good", "bad"]),
          verdictAt: epochMs,
          reason: str(),
        },
        ["path", "firstSeen", "since", "by", "verdict"],
      ),
    ),
    hold: HoldSchema,
  },
  ["deployment", "host", "generations"],
);

export const StatusSchema = obj(
  {
    version: str(),
    mode: strEnum(["enforce", "dry-run", "observe"]),
    leader: obj({ known: bool, self: bool, id: str() }, ["known", "self"]),
    pauses: arr(PauseInfoSchema),
    breaker: obj({ open: bool, unhealthyFraction: num, since: epochMs }, ["open", "unhealthyFraction"]),
    maintenance: arr(obj({ deployment: str(), until: epochMs }, ["until"])),
    quarantined: arr(
      obj({ deployment: str(), host: str(), since: epochMs, until: epochMs }, ["deployment", "since"]),
    ),
    held: arr(HoldSchema),
    hosts: hostStateCounts,
    queue: countsBy(QUEUE_STATES),
    self: obj(
      {
        state: strEnum(["healthy", "degraded"]),
        reasons: arr(str()),
        at: epochMs,
        load: arr(num),
        cpus: num,
        memoryUsedFraction: num,
        filesystems: arr(
          obj({ path: str(), mount: str(), usedFraction: num }, ["path", "mount", "usedFraction"]),
        ),
      },
      ["state", "reasons", "at", "load", "cpus", "memoryUsedFraction", "filesystems"],
    ),
    probing: obj(
      {
        shared: bool,
        self: str(),
        members: arr(
          obj(
            {
              id: str(),
              heartbeatAt: epochMs,
              alive: bool,
              hosts: int(),
              pid: int(),
              hostname: str(),
              roles: arr(str()),
              startedAt: epochMs,
            },
            ["id", "heartbeatAt", "alive", "hosts"],
          ),
        ),
      },
      ["shared", "members"],
    ),
    nixops4: arr(
      obj(
        {
          deployment: str(),
          flake: str(),
          state: strEnum(["pending", "ok", "refused", "unknown"]),
          generation: strEnum(["older", "newer"]),
          checkedAt: epochMs,
          error: str(),
          problems: arr(str()),
          nextTryAt: epochMs,
        },
        ["deployment", "flake", "state"],
      ),
    ),
  },
  ["version", "mode", "leader", "pauses", "breaker", "maintenance", "quarantined", "hosts", "queue"],
);

const deploymentProps = {
  name: str(),
  target: str(),
  flake: str(),
  hosts: hostStateCounts,
  paused: bool,
  quarantined: bool,
  lastDeploy: obj({ outcome: strEnum(OUTCOMES), finishedAt: epochMs, jobId: str() }, [
    "outcome",
    "finishedAt",
    "jobId",
  ]),
};
const deploymentRequired = ["name", "target", "flake", "hosts", "paused", "quarantined"];

export const DeploymentSummarySchema = obj(deploymentProps, deploymentRequired);
export const DeploymentDetailSchema = obj({ ...deploymentProps, hostHealth: arr(HostHealthSchema) }, [
  ...deploymentRequired,
  "hostHealth",
]);

export const ResetResultSchema = obj({ cleared: arr(strEnum(["quarantine", "backoff", "budget"])) }, [
  "cleared",
]);

import { HOST_STATES } from "../../controller/types.js";
import { PROBE_RESULTS } from "../../metrics.js";
import { arr, bool, epochMs, int, map, num, obj, str, strEnum } from "./common.js";

/** JSON Schemas of the controller's health view and the probes' observations (controller/types.ts, probes/types.ts). */

export const CheckHealthSchema = obj(
  {
    id: str(),
    kind: strEnum(["systemd", "http"]),
    state: strEnum(["healthy", "failing", "unknown"]),
    since: epochMs,
    lastObservedAt: epochMs,
    reason: str(),
    consecutiveFailures: int(),
    consecutiveSuccesses: int(),
    missing: bool,
    activeState: str(),
    units: arr(str()),
  },
  ["id", "kind", "state", "since", "reason", "consecutiveFailures", "consecutiveSuccesses"],
);

export const HostHealthSchema = obj(
  {
    deployment: str(),
    host: str(),
    state: strEnum(HOST_STATES),
    since: epochMs,
    reasons: arr(str()),
    checks: map(CheckHealthSchema),
    currentSystem: str(),
    lastObservedAt: epochMs,
    suppressed: bool,
  },
  ["deployment", "host", "state", "since", "reasons", "checks"],
);

const UnitStateSchema = obj(
  {
    id: str(),
    loadState: str(),
    activeState: str(),
    subState: str(),
    result: str(),
    nRestarts: int(),
    type: str(),
    activeEnterTimestamp: epochMs,
    execMainCode: int(),
    execMainStatus: int(),
    conditionResult: str(),
    conditionTimestamp: epochMs,
    triggers: str(),
  },
  ["id", "loadState", "activeState", "subState", "result", "nRestarts", "type"],
);

const HttpResultSchema = obj(
  {
    check: str(),
    ok: bool,
    result: strEnum(PROBE_RESULTS),
    status: int(),
    durationMs: num,
    reason: str(),
    tlsExpiresAt: epochMs,
  },
  ["check", "ok", "result", "durationMs", "reason"],
);

export const HostObservationSchema = obj(
  {
    deployment: str(),
    host: str(),
    at: epochMs,
    durationMs: num,
    reachable: bool,
    prober: str({
      description: "The NixGuard process that probed it, when probing is shared (probes.sharing)",
    }),
    error: obj({ code: str(), message: str() }, ["code", "message"]),
    facts: obj(
      {
        units: map(UnitStateSchema),
        currentSystem: str(),
        disks: arr(
          obj({ mount: str(), sizeBytes: num, usedBytes: num, usedFraction: num }, [
            "mount",
            "sizeBytes",
            "usedBytes",
            "usedFraction",
          ]),
        ),
        load: arr(num, { minItems: 3, maxItems: 3 }),
        cpus: int(),
      },
      ["units", "disks"],
    ),
    http: arr(HttpResultSchema),
  },
  ["deployment", "host", "at", "durationMs", "reachable", "http"],
);

export const HostDetailSchema = obj(
  {
    health: HostHealthSchema,
    address: str(),
    target: str(),
    services: arr(str()),
    paused: bool,
    quarantined: bool,
    drift: bool,
    lastObservation: HostObservationSchema,
  },
  ["health", "address", "target", "services", "paused", "quarantined", "drift"],
);

/**
 * Fault specs accepted by the control API (`POST /sim/faults`). Each fault either changes the
 * simulated state once (a unit fails, the generation drifts) or stays in force until whatever
 * `clearedBy` names happens: a successful restart of the unit, a deploy of the host, or an
 * explicit heal.
 */
export type ClearedBy = "restart" | "deploy" | "heal";

export type FaultSpec =
  /** Unit goes failed. `keepFailing`: restarts fail too, until a deploy (default false). */
  | { kind: "unit-fail"; host: string; unit: string; result?: string; keepFailing?: boolean }
  /** Unit stopped by someone: inactive/dead, Result=success. */
  | { kind: "unit-stop"; host: string; unit: string }
  /** Unit file gone: LoadState=not-found until a deploy brings it back. */
  | { kind: "unit-missing"; host: string; unit: string }
  /**
   * The service's process dies `upMs` (default 2 s) after each start with `exitCode` (default 3)
   * and systemd starts it again after `restartSecMs` (default 5 s): `activating (auto-restart)`
   * and `active (running)` in turn, NRestarts climbing, never `failed`. A restart starts it over;
   * a deploy ends it.
   */
  | {
      kind: "crash-loop";
      host: string;
      unit: string;
      upMs?: number;
      restartSecMs?: number;
      exitCode?: number;
    }
  /** The service's ExecStop hangs: `systemctl restart` never returns, the unit stays deactivating (stop). A deploy ends it. */
  | { kind: "hung-stop"; host: string; unit: string }
  /** An HTTP check answers `status` (default 502) and/or only after `delayMs`. */
  | { kind: "http"; host: string; check: string; status?: number; delayMs?: number; clearedBy?: ClearedBy }
  /**
   * A unit or HTTP check alternates between failing and healthy: on every other read
   * (`everyOther`, default) or every `periodMs`. Survives restarts and deploys unless told.
   */
  | {
      kind: "flap";
      host: string;
      unit?: string;
      check?: string;
      periodMs?: number;
      clearedBy?: ClearedBy;
    }
  /**
   * The host stops answering: ssh times out after its ConnectTimeout (or `delayMs`), is refused,
   * or hangs; HTTP requests to it hang.
   */
  | { kind: "unreachable"; host: string; mode?: "timeout" | "refused" | "hang"; delayMs?: number }
  /**
   * The flake's next commit breaks `unit`: the host's desired system moves to a new generation on
   * which the unit exits at once on every start (after a deploy brings it, and after every
   * restart), while other generations run it fine. Stays until healed: the generation stays bad.
   */
  | { kind: "broken-generation"; host: string; unit: string }
  /** Someone switched the host to another system by hand: /run/current-system changes. */
  | { kind: "drift"; host: string }
  /** The host's SSH host key changed: ssh refuses with the real warning. */
  | { kind: "host-key"; host: string }
  /** Root filesystem fill level (0..1) and/or load average. */
  | { kind: "resources"; host: string; diskUsedFraction?: number; load?: [number, number, number] };

export interface ActiveFault {
  id: string;
  spec: FaultSpec;
  since: number;
  clearedBy: ClearedBy;
  /** broken-generation: the system it breaks. */
  system?: string;
  /** Flaps: reads counted before the fault began, so it fails on the first read after. */
  baseCount?: number;
}

const KINDS = new Set([
  "unit-fail",
  "unit-stop",
  "unit-missing",
  "crash-loop",
  "hung-stop",
  "http",
  "flap",
  "unreachable",
  "drift",
  "broken-generation",
  "host-key",
  "resources",
]);

/** Validates an untrusted JSON body into a FaultSpec; returns an error message instead of throwing. */
export function parseFaultSpec(raw: unknown): FaultSpec | string {
  if (!raw || typeof raw !== "object") return "expected a JSON object";
  const o = raw as Record<string, unknown>;
  if (typeof o.kind !== "string" || !KINDS.has(o.kind)) return `kind must be one of ${[...KINDS].join(", ")}`;
  if (typeof o.host !== "string" || o.host === "") return "host is required";
  const str = (k: string) => o[k] === undefined || typeof o[k] === "string";
  const num = (k: string) => o[k] === undefined || (typeof o[k] === "number" && Number.isFinite(o[k]));
  if (!["unit", "check", "result", "mode", "clearedBy"].every(str))
    return "unit/check/result/mode must be strings";
  if (!["status", "delayMs", "periodMs", "diskUsedFraction", "upMs", "restartSecMs", "exitCode"].every(num))
    return "numeric fields must be numbers";
  if (
    (o.kind === "unit-fail" ||
      o.kind === "unit-stop" ||
      o.kind === "unit-missing" ||
      o.kind === "crash-loop" ||
      o.kind === "hung-stop" ||
      o.kind === "broken-generation") &&
    !o.unit
  )
    return `${o.kind} needs unit`;
  for (const k of ["upMs", "restartSecMs"])
    if (o[k] !== undefined && !((o[k] as number) > 0))
      return `${k} must be a positive number of milliseconds`;
  if (
    o.exitCode !== undefined &&
    !(Number.isInteger(o.exitCode) && (o.exitCode as number) >= 0 && (o.exitCode as number) <= 255)
  )
    return "exitCode must be an integer 0–255";
  if (o.kind === "http" && !o.check) return "http needs check (the check name, e.g. mastodon-health)";
  if (o.kind === "flap" && !o.unit === !o.check) return "flap needs exactly one of unit or check";
  if (o.clearedBy !== undefined && !["restart", "deploy", "heal"].includes(o.clearedBy as string))
    return "clearedBy must be restart, deploy or heal";
  if (o.mode !== undefined && !["timeout", "refused", "hang"].includes(o.mode as string))
    return "mode must be timeout, refused or hang";
  if (
    o.load !== undefined &&
    !(Array.isArray(o.load) && o.load.length === 3 && o.load.every(Number.isFinite))
  )
    return "load must be [load1, load5, load15]";
  return o as unknown as FaultSpec;
}

export function defaultClearedBy(spec: FaultSpec): ClearedBy {
  switch (spec.kind) {
    case "http":
      return spec.clearedBy ?? "restart";
    case "flap":
      return spec.clearedBy ?? "heal";
    case "unit-fail":
    case "unit-missing":
    case "crash-loop":
    case "hung-stop":
    case "drift":
      return "deploy";
    case "unit-stop":
      return "restart";
    default:
      return "heal";
  }
}

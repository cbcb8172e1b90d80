import type { UnitCheck } from "../../config/desired.js";
import type { HttpResult, UnitState } from "../../probes/types.js";
import { describeExit, type RestartMemory } from "./crash-loop.js";

/**
 * One observation of one check, judged: pass, fail, or pending (a unit on its way somewhere —
 * activating, reloading — is not failing yet, nor healthy yet). Pure.
 */
export interface Verdict {
  outcome: "pass" | "fail" | "pending";
  reason: string;
  missing?: boolean;
  activeState?: string;
  /** Units whose restart heals this check when they are not the check's own (a timer's service). */
  restart?: string[];
  /** What a unit's check remembers between observations (crash-loop.ts). */
  restarts?: RestartMemory;
}

/**
 * One copy of each reason. A host keeps its checks' reasons until they change, and the same few
 * ("active (running)", "inactive (dead), last run succeeded") stood as a copy per check per host:
 * ~2,000 strings per thousand hosts. Bounded: reasons with restart counts or odd results, past
 * the first 512 different ones, are simply not shared.
 */
const reasons = new Map<string, string>();
function shared(reason: string): string {
  const known = reasons.get(reason);
  if (known !== undefined) return known;
  if (reasons.size < 512) reasons.set(reason, reason);
  return reason;
}

export const describeState = (u: UnitState) =>
  u.subState ? `${u.activeState} (${u.subState})` : u.activeState;

/** How the last run ended, when not plainly: `, exit code 3`, `, killed by SIGKILL`, `, result timeout`. */
function endNote(u: UnitState): string {
  if (u.result === "start-limit-hit") return ", start request repeated too quickly (start-limit-hit)";
  const exited = u.execMainCode !== undefined && u.execMainCode > 0;
  if ((u.result === "exit-code" || u.result === "signal" || u.result === "core-dump") && exited) {
    return `, ${describeExit(u.execMainCode as number, u.execMainStatus ?? 0)}`;
  }
  return u.result && u.result !== "success" ? `, result ${u.result}` : "";
}

const restartNote = (u: UnitState) => (u.nRestarts > 0 ? `, ${u.nRestarts} restarts` : "");

/**
 * Skipped on purpose: an `ExecCondition=` command that exited 1–254 (Result=exec-condition), or a
 * `Condition…=` that did not hold when last checked. The unit is inactive because it was told
 * not to run — not a failure. (A unit loaded afresh also says ConditionResult=no, but was never
 * checked: no ConditionTimestamp.)
 */
function skipped(u: UnitState): string | undefined {
  if (u.activeState !== "inactive") return undefined;
  if (u.result === "exec-condition") return "inactive (dead), skipped: its ExecCondition did not hold";
  if (u.conditionResult === "no" && u.conditionTimestamp !== undefined)
    return "inactive (dead), skipped: its conditions did not hold";
  return undefined;
}

/**
 * Unit semantics (as real systemd reports them, see test/fixtures/golden/systemctl):
 * - LoadState must be `loaded`; `not-found` means the unit is not installed (missing → redeploy),
 *   except for a conditional unit (config/catalog.ts), which passes then.
 * - a unit skipped by ExecCondition= or Condition…= passes: it was told not to run.
 * - `activating (auto-restart)` fails: the process died and systemd waits RestartSec to start it
 *   again (seen again and again, the unit is down; a crash loop is judged over time in
 *   crash-loop.ts). Other `activating` and `reloading` are pending.
 * - oneshots (configured so, or Type=oneshot) are judged by their last run: Result=success and not
 *   `failed`, with or without RemainAfterExit; they are not expected to stay active.
 * - timers must be active, and the last run of the service they start must have succeeded
 *   (`service`, the timer's `<name>.service`, when the probe reported it and the timer's Unit=
 *   names it); restarting that service runs it again.
 * - every other unit must be `active`.
 */
export function judgeUnit(check: UnitCheck, u: UnitState | undefined, service?: UnitState): Verdict {
  // A unit only a module option creates, with that option off or unknown: not installed is
  // how it should be (no redeploy would create it); judged like any other once the host has it.
  if (check.conditional && (!u || u.loadState === "not-found"))
    return { outcome: "pass", reason: "not installed (exists only when its module option is on)" };
  if (!u) return { outcome: "fail", reason: "not reported by the host" };
  const activeState = u.activeState;
  if (u.loadState === "not-found") {
    return { outcome: "fail", reason: "unit not found (not installed)", missing: true, activeState };
  }
  if (u.loadState !== "loaded")
    return { outcome: "fail", reason: shared(`unit ${u.loadState}`), activeState };
  const skip = skipped(u);
  if (skip) return { outcome: "pass", reason: shared(skip), activeState };
  if (u.subState === "auto-restart") {
    return {
      outcome: "fail",
      reason: shared(`${describeState(u)}${endNote(u)}${restartNote(u)}`),
      activeState,
    };
  }
  if (activeState === "activating" || activeState === "reloading") {
    return { outcome: "pending", reason: shared(`${describeState(u)}${restartNote(u)}`), activeState };
  }
  if (check.oneshot || u.type === "oneshot") {
    if (activeState === "failed" || activeState === "deactivating") {
      return { outcome: "fail", reason: shared(`${describeState(u)}${endNote(u)}`), activeState };
    }
    if (u.result && u.result !== "success") {
      return { outcome: "fail", reason: shared(`last run ended${endNote(u)}`), activeState };
    }
    return { outcome: "pass", reason: shared(`${describeState(u)}, last run succeeded`), activeState };
  }
  if (activeState !== "active") {
    return {
      outcome: "fail",
      reason: shared(`${describeState(u)}${endNote(u)}${restartNote(u)}`),
      activeState,
    };
  }
  if (service && check.unit.endsWith(".timer") && (u.triggers === undefined || u.triggers === service.id)) {
    return judgeTimerService(u, service);
  }
  return { outcome: "pass", reason: shared(describeState(u)), activeState };
}

/** An active timer, by the last run of its service. */
function judgeTimerService(timer: UnitState, service: UnitState): Verdict {
  const activeState = timer.activeState;
  const own = describeState(timer);
  // Not installed: the timer's own check cannot tell more; the service's absence is the deploy's.
  if (service.loadState !== "loaded") return { outcome: "pass", reason: shared(own), activeState };
  const ran = service.activeState === "failed" || (service.result !== "" && service.result !== "success");
  if (ran && !skipped(service)) {
    return {
      outcome: "fail",
      reason: shared(
        `${own}; last run of ${service.id} failed${endNote(service) || ` (${describeState(service)})`}`,
      ),
      activeState,
      restart: [service.id],
    };
  }
  const now =
    service.activeState === "active" || service.activeState === "activating"
      ? `${service.id} running now`
      : `last run of ${service.id} succeeded`;
  return { outcome: "pass", reason: shared(`${own}, ${now}`), activeState };
}

export function judgeHttp(r: HttpResult): Verdict {
  if (r.result === "ok") return { outcome: "pass", reason: r.reason };
  if (r.result === "skipped") return { outcome: "pending", reason: r.reason };
  return { outcome: "fail", reason: r.reason };
}

import type { UnitCheck } from "../../config/desired.js";
import type { HttpResult, UnitState } from "../../probes/types.js";

/**
 * One observation of one check, judged: pass, fail, or pending (a unit on its way somewhere —
 * activating, reloading — is not failing yet, nor healthy yet). Pure.
 */
export interface Verdict {
  outcome: "pass" | "fail" | "pending";
  reason: string;
  missing?: boolean;
  activeState?: string;
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

const describe = (u: UnitState) => (u.subState ? `${u.activeState} (${u.subState})` : u.activeState);
const resultNote = (u: UnitState) => (u.result && u.result !== "success" ? `, result ${u.result}` : "");

/**
 * Unit semantics:
 * - LoadState must be `loaded`; `not-found` means the unit is not installed (missing → redeploy).
 * - oneshots (configured so, or Type=oneshot) are judged by their last run: Result=success and not
 *   `failed`; they are not expected to stay active.
 * - timers, and every other unit, must be `active`.
 * - `activating` and `reloading` are pending; `deactivating`, `inactive`, `failed` fail.
 */
export function judgeUnit(check: UnitCheck, u: UnitState | undefined): Verdict {
  if (!u) return { outcome: "fail", reason: "not reported by the host" };
  const activeState = u.activeState;
  if (u.loadState === "not-found") {
    return { outcome: "fail", reason: "unit not found (not installed)", missing: true, activeState };
  }
  if (u.loadState !== "loaded")
    return { outcome: "fail", reason: shared(`unit ${u.loadState}`), activeState };
  if (activeState === "activating" || activeState === "reloading") {
    const restarts = u.nRestarts > 0 ? `, ${u.nRestarts} restarts` : "";
    return { outcome: "pending", reason: shared(`${describe(u)}${restarts}`), activeState };
  }
  if (check.oneshot || u.type === "oneshot") {
    if (activeState === "failed" || activeState === "deactivating") {
      return { outcome: "fail", reason: shared(`${describe(u)}${resultNote(u)}`), activeState };
    }
    if (u.result && u.result !== "success") {
      return { outcome: "fail", reason: shared(`last run ended with result ${u.result}`), activeState };
    }
    return { outcome: "pass", reason: shared(`${describe(u)}, last run succeeded`), activeState };
  }
  if (activeState === "active") return { outcome: "pass", reason: shared(describe(u)), activeState };
  const restarts = u.nRestarts > 0 ? `, ${u.nRestarts} restarts` : "";
  return { outcome: "fail", reason: shared(`${describe(u)}${resultNote(u)}${restarts}`), activeState };
}

export function judgeHttp(r: HttpResult): Verdict {
  if (r.result === "ok") return { outcome: "pass", reason: r.reason };
  if (r.result === "skipped") return { outcome: "pending", reason: r.reason };
  return { outcome: "fail", reason: r.reason };
}

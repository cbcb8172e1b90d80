import type { Action } from "../../action.js";
import { type ActionOrigin, ALLOW, blocked, describeAction, type GateResult, type Mode } from "./types.js";

export interface ModeInput {
  mode: Mode;
  action: Action;
  origin: ActionOrigin;
}

/** `dry-run` records what it would do; `observe` only watches. Neither acts unless forced by hand. */
export function modeGate(input: ModeInput, _now: number): GateResult {
  if (input.mode === "enforce") return ALLOW;
  if (input.origin.manual && input.origin.force) return ALLOW;
  return blocked("mode", `${input.mode}: would ${describeAction(input.action)}`);
}

import type { Action } from "../../action.js";
import { describeHold, type HoldEntry } from "../hold.js";
import { type ActionOrigin, ALLOW, blocked, type GateResult } from "./types.js";

export interface HeldInput {
  action: Action;
  touchedHosts: readonly string[];
  holds: readonly HoldEntry[];
  origin: ActionOrigin;
}

/**
 * A held host's flake still describes the generation that broke it: an automatic redeploy
 * touching it (the ladder's, drift's, a schedule's) would bring that generation back. Manual
 * redeploys pass (the operator's choice); restarts and rollbacks change no generation.
 */
export function heldGate(input: HeldInput, _now: number): GateResult {
  if (input.origin.manual || input.action.kind !== "redeploy") return ALLOW;
  const hit = input.holds.find(
    (h) => h.deployment === input.action.deployment && input.touchedHosts.includes(h.host),
  );
  if (!hit) return ALLOW;
  return blocked(
    "held",
    `${describeHold(hit)}: a redeploy would bring it back; release with \`nixguard release ${hit.deployment}/${hit.host}\` or deploy a fix`,
  );
}

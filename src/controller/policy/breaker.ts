import type { HostState } from "../types.js";
import { type ActionOrigin, ALLOW, blocked, type GateResult, type RemediationConfig } from "./types.js";

export interface BreakerStatus {
  open: boolean;
  bad: number;
  total: number;
}

/**
 * Bad = failing or unreachable. When too many hosts turn bad at once, the likeliest cause is
 * NixGuard's own network or a shared dependency, and remediating every host would make it worse.
 */
export function breakerStatus(
  states: readonly HostState[],
  config: RemediationConfig["breaker"],
): BreakerStatus {
  const total = states.length;
  const bad = states.filter((s) => s === "failing" || s === "unreachable").length;
  const open = total >= config.minHosts && total > 0 && bad / total > config.unhealthyFraction;
  return { open, bad, total };
}

export interface BreakerInput {
  breaker: BreakerStatus;
  origin: ActionOrigin;
}

export function breakerGate(input: BreakerInput, _now: number): GateResult {
  if (!input.breaker.open || (input.origin.manual && input.origin.force)) return ALLOW;
  const { bad, total } = input.breaker;
  return blocked("breaker", `circuit breaker open: ${bad} of ${total} hosts bad`);
}

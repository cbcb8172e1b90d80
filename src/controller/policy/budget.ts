import { formatDuration } from "../../config/duration.js";
import { type ActionOrigin, ALLOW, blocked, type GateResult } from "./types.js";

export interface BudgetWindow {
  /** Epoch ms of the automatic actions counted against this budget. */
  times: readonly number[];
  max: number;
  window: number;
}

/** Actions in the sliding window (now − window, now], and when the window next frees a slot. */
export function budgetUsage(b: BudgetWindow, now: number): { used: number; freesAt?: number } {
  const inWindow = b.times.filter((t) => t > now - b.window && t <= now).sort((x, y) => x - y);
  const used = inWindow.length;
  if (used < b.max || b.max === 0) return { used };
  // The (used − max + 1)-th oldest must leave the window before one more fits.
  const oldest = inWindow[used - b.max];
  return oldest === undefined ? { used } : { used, freesAt: oldest + b.window };
}

export function budgetExhausted(b: BudgetWindow, now: number): boolean {
  return budgetUsage(b, now).used >= b.max;
}

export interface BudgetInput {
  deployment: string;
  perDeployment: BudgetWindow;
  global: BudgetWindow;
  origin: ActionOrigin;
}

/** A hard ceiling on automatic actions: a fleet that keeps breaking needs a person, not more applies. */
export function budgetGate(input: BudgetInput, now: number): GateResult {
  if (input.origin.manual) return ALLOW;
  for (const [name, b] of [
    [`deployment ${input.deployment}`, input.perDeployment],
    ["global", input.global],
  ] as const) {
    const { used, freesAt } = budgetUsage(b, now);
    if (used >= b.max) {
      return blocked(
        "budget",
        `${name} budget spent: ${used} of ${b.max} per ${formatDuration(b.window)}`,
        freesAt,
      );
    }
  }
  return ALLOW;
}

import { CronExpressionParser } from "cron-parser";
import type { RemediationConfig } from "./types.js";
import { type ActionOrigin, ALLOW, blocked, type GateResult } from "./types.js";

export type MaintenanceWindow = RemediationConfig["maintenance"][number];

export interface MaintenanceInput {
  deployment: string;
  windows: readonly MaintenanceWindow[];
  origin: ActionOrigin;
  /** IANA zone the cron expressions are read in; node-cron schedules in local time, so do we. */
  timezone?: string;
}

export interface ActiveWindow {
  window: MaintenanceWindow;
  start: number;
  end: number;
}

const LOCAL_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * Start of the latest window at or before `now`. The latest start is enough: all occurrences of
 * one expression last the same `duration`, so if any earlier one still covers `now`, so does it.
 */
export function lastStart(cron: string, now: number, timezone = LOCAL_TZ): number | undefined {
  try {
    // prev() is strictly before currentDate; +1 ms makes a window starting exactly now count.
    const expr = CronExpressionParser.parse(cron, { currentDate: new Date(now + 1), tz: timezone });
    return expr.prev().getTime();
  } catch {
    // An expression with no past occurrence (or invalid; config load already refuses those).
    return undefined;
  }
}

export function activeWindow(input: Omit<MaintenanceInput, "origin">, now: number): ActiveWindow | undefined {
  let found: ActiveWindow | undefined;
  for (const window of input.windows) {
    if (window.deployments && !window.deployments.includes(input.deployment)) continue;
    const start = lastStart(window.cron, now, input.timezone);
    if (start === undefined || now >= start + window.duration) continue;
    const end = start + window.duration;
    if (!found || end > found.end) found = { window, start, end };
  }
  return found;
}

/** Operators work on the fleet in these windows: remediation would fight them. */
export function maintenanceGate(input: MaintenanceInput, now: number): GateResult {
  if (input.origin.manual && input.origin.force) return ALLOW;
  const active = activeWindow(input, now);
  if (!active) return ALLOW;
  return blocked(
    "maintenance",
    `maintenance window "${active.window.cron}" until ${new Date(active.end).toISOString()}`,
    active.end,
  );
}

import type { Config } from "../config/schema.js";

/**
 * How old an observation may be and still drive an action: `probes.maxHealthAge`, by default two
 * intervals plus a probe's timeout — the last probe of a host that is probed normally is never
 * older than that. Pure.
 */
export function healthMaxAge(
  probes: Pick<Config["probes"], "interval" | "timeout" | "maxHealthAge">,
): number {
  return probes.maxHealthAge ?? 2 * probes.interval + probes.timeout;
}

import type { Config } from "../../config/schema.js";

/**
 * The membership's timings from `probes.sharing`, defaulting from the probe interval: a heartbeat
 * every quarter interval, dead after half of one. A host whose prober dies was last probed at
 * most one interval (plus jitter) before; the others see the death within deadAfter + one
 * heartbeat and probe the host at once: about 1.75 intervals without a probe at worst, under the
 * two promised. Pure.
 */
export function sharingTimings(probes: Pick<Config["probes"], "interval" | "sharing">): {
  heartbeatMs: number;
  deadAfterMs: number;
} {
  return {
    heartbeatMs: probes.sharing.heartbeat ?? Math.max(1, Math.round(probes.interval / 4)),
    deadAfterMs: probes.sharing.deadAfter ?? Math.max(2, Math.round(probes.interval / 2)),
  };
}

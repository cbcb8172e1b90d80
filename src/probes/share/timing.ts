import type { Config } from "../../config/schema.js";

/**
 * The membership's timings from `probes.sharing`, defaulting from the probe interval: a heartbeat
 * every sixth of an interval, dead after a third (two heartbeats missed). A host whose prober dies
 * was last probed at most one interval plus jitter before (1.1 with the default 0.1); the others
 * see the death within deadAfter + one heartbeat (half an interval) and probe the host within
 * jitter × interval: 1.7 intervals without a probe at worst, under the two promised. Measured with
 * the defaults at 5 s: 1.78 intervals with heartbeat interval / 4 and deadAfter interval / 2,
 * too close to two on a loaded machine (bench/shared-probing.ts). Pure.
 */
export function sharingTimings(probes: Pick<Config["probes"], "interval" | "sharing">): {
  heartbeatMs: number;
  deadAfterMs: number;
} {
  return {
    heartbeatMs: probes.sharing.heartbeat ?? Math.max(1, Math.round(probes.interval / 6)),
    deadAfterMs: probes.sharing.deadAfter ?? Math.max(2, Math.round(probes.interval / 3)),
  };
}

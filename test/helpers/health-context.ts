import type { HostSpec } from "../../src/config/desired.js";
import { evaluateHost, type HealthContext } from "../../src/controller/health.js";
import type { HostHealth } from "../../src/controller/types.js";
import type { HostObservation } from "../../src/probes/types.js";

/** The config's defaults as a health context at `now`, with overrides. */
export const healthContext = (now: number, over: Partial<HealthContext> = {}): HealthContext => ({
  now,
  failureThreshold: 3,
  successThreshold: 1,
  suppress: false,
  thresholds: { diskUsedFraction: 0.9, loadPerCpu: 4 },
  crashLoop: { restarts: 3, windowMs: 300_000 },
  ...over,
});

/** One host's observations `stepMs` apart, each judged on the health before it. */
export function judgeSeries(
  spec: HostSpec,
  observations: HostObservation[],
  stepMs: number,
  over: Partial<HealthContext> = {},
): HostHealth[] {
  const out: HostHealth[] = [];
  let prev: HostHealth | undefined;
  observations.forEach((o, i) => {
    prev = evaluateHost(prev, spec, { ...o, at: i * stepMs }, healthContext(i * stepMs, over));
    out.push(prev);
  });
  return out;
}

/** Host mastodon of deployment fediversity, probed locally, with these checks. */
export const mastodonSpec = (units: HostSpec["units"], http: HostSpec["http"] = []): HostSpec => ({
  deployment: "fediversity",
  name: "mastodon",
  address: "10.0.0.11",
  target: "fediversity",
  ownTarget: false,
  services: ["mastodon"],
  transport: { kind: "local" },
  units,
  http,
});

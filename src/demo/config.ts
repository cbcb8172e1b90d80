import type { ConfigInput } from "../config/schema.js";
import type { SimBin } from "../sim/bin.js";
import { simConfig } from "../sim/config.js";

/**
 * The demo's NixGuard config: the simulated Fediversity fleet (garage, mastodon, peertube,
 * pixelfed) over the production ssh transport with the fake ssh, the fake nixops4, and timings
 * compressed so one detect → act → healthy cycle takes seconds instead of minutes. Everything
 * else keeps its production default: the ladder, the gates, the budget and quarantine.
 */
export interface DemoConfigOptions {
  simUrl: string;
  bin: Pick<SimBin, "ssh" | "nixops4">;
  flakeDir: string;
  stateDir: string;
  runtimeDir: string;
  /** Unset: NixGuard starts its private redis-server under stateDir, as `serve` does. */
  redisUrl?: string;
  redisPrefix: string;
  /**
   * `demo --alerts`: drift is reported, not redeployed (the drift lasts until the episode
   * ends), and `tlsHost` gets an HTTP check on the demo's TLS endpoint (tls.ts).
   */
  alerts?: { tls: { url: string; caFile: string }; tlsHost: string };
}

export const DEMO_DEPLOYMENT = "fediversity";

/** Probe timing: a fault is detected after two failed probes, about 2 s; one passing probe heals. */
export const DEMO_PROBES = {
  interval: "1s",
  timeout: "3s",
  jitter: 0.1,
  failureThreshold: 2,
  successThreshold: 1,
} as const;

/**
 * The flapping unit's half-period. Quarantine follows a redeploy that did not heal within one
 * failing stretch (reconciler.ts); restart, restart, redeploy and their settle periods take
 * about 12 s, so a 30 s down phase always reaches it.
 */
export const FLAP_PERIOD_MS = 30_000;

/**
 * The crash-looping unit: up 1 s, RestartSec 1.5 s. probes.crashLoop's default (3 restarts in
 * 5 minutes) is met within about three cycles, then failureThreshold probes: ~10 s per rung.
 */
export const CRASH_LOOP = { upMs: 1_000, restartSecMs: 1_500 } as const;

/**
 * How long the demo shows a rolled-back host held (healthy on the known-good generation, the
 * broken one not redeployed) before the panel deploys a fix: several probe intervals and settle
 * periods, long enough to see that nothing redeploys it.
 */
export const ROLLBACK_HELD_MS = 10_000;

export function demoConfig(opts: DemoConfigOptions): ConfigInput {
  const config = simConfig({
    hosts: "fediversity",
    transport: "ssh",
    simUrl: opts.simUrl,
    sshCommand: opts.bin.ssh,
    nixops4Command: opts.bin.nixops4,
    flakeDir: opts.flakeDir,
    overrides: {
      redis: { ...(opts.redisUrl ? { url: opts.redisUrl } : {}), prefix: opts.redisPrefix },
      state: { dir: opts.stateDir, runtimeDir: opts.runtimeDir },
      log: { level: "info" },
      probes: { ...DEMO_PROBES },
      remediation: {
        mode: "enforce",
        restartAttempts: 2,
        restartWindow: "10m",
        settle: "3s",
        backoff: { initial: "1s", factor: 2, max: "4s", resetAfter: "30s" },
        // The flapping scenario spends the deployment's budget. The global one is roomy: a long demo
        // run takes about 40 actions in 5 minutes, and resets do not clear the global budget.
        budget: { deployment: { max: 3, window: "10m" }, global: { max: 50, window: "5m" } },
        // Four hosts: one bad host is a quarter, far below the breaker's half.
        breaker: { unhealthyFraction: 0.5, minHosts: 3 },
        quarantine: { cooldown: "10m" },
        drift: opts.alerts ? "alert" : "redeploy",
      },
      nixops4: { timeout: "1m", interruptGrace: "2s", killGrace: "2s", stragglerGrace: "1s" },
      worker: { concurrency: 2, shutdownGrace: "3s", lockTtl: "10s" },
      leader: { lease: "5s", renew: "1s" },
    },
  });
  if (opts.alerts) {
    const { tls, tlsHost } = opts.alerts;
    const host = config.deployments?.[DEMO_DEPLOYMENT]?.hosts?.[tlsHost] as { http?: unknown[] } | undefined;
    if (!host) throw new Error(`demo: no host ${tlsHost} for the TLS check`);
    host.http = [{ name: "status-tls", url: tls.url, resolve: "127.0.0.1", caFile: tls.caFile }];
  }
  return config;
}

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RealHost } from "./host.js";
import type { StandinFlake } from "./standin.js";

/**
 * One real host under NixGuard with rollback on, as the rollback test and bench run it: generations
 * whose app.service runs (GOOD) or exits at once (BROKEN: failed after the switch and after every
 * restart), and the config with compressed timings every wait derives from.
 */
const service = (exec: string) =>
  `[Unit]\nDescription=app\n[Service]\nExecStart=${exec}\n[Install]\nWantedBy=multi-user.target\n`;
export const GOOD = (n: number) => ({ units: { "app.service": service(`/bin/sleep ${100_000 + n}`) } });
export const BROKEN = { units: { "app.service": service("/bin/sh -c 'exit 3'") } };

export const ROLLBACK_TIMINGS = {
  interval: 1_000,
  failureThreshold: 2,
  settle: 2_000,
  knownGoodAfter: 3_000,
  afterRestarts: 1,
} as const;

export interface RollbackFleet {
  /** Directory for the config, state and runtime files. */
  dir: string;
  redisUrl: string;
  prefix: string;
  web: RealHost;
  flake: StandinFlake;
  /** Actions per budget window (deployment and global). */
  budget: number;
}

/** Writes the NixGuard config (deployment fediversity, host web1) and returns its path. */
export function writeRollbackConfig(o: RollbackFleet): string {
  const t = ROLLBACK_TIMINGS;
  const file = join(o.dir, "nixguard.json");
  writeFileSync(
    file,
    JSON.stringify({
      redis: { url: o.redisUrl, prefix: o.prefix },
      state: { dir: join(o.dir, "state"), runtimeDir: join(o.dir, "run") },
      leader: { lease: "3s", renew: "1s" },
      probes: { interval: `${t.interval}ms`, timeout: "10s", failureThreshold: t.failureThreshold },
      remediation: {
        settle: `${t.settle}ms`,
        restartAttempts: 2,
        backoff: { initial: "1s", max: "2s" },
        budget: { deployment: { max: o.budget, window: "1h" }, global: { max: o.budget, window: "1h" } },
        drift: "redeploy",
        rollback: { knownGoodAfter: `${t.knownGoodAfter}ms`, afterRestarts: t.afterRestarts },
      },
      nixops4: { command: o.flake.command, timeout: "2m" },
      deployments: {
        fediversity: {
          flake: o.flake.dir,
          target: "fediversity",
          hosts: {
            web1: {
              address: o.web.address,
              transport: "ssh",
              identityFile: o.web.identityFile,
              knownHostsFile: o.web.knownHostsFile,
              units: ["app.service"],
            },
          },
        },
      },
    }),
  );
  return file;
}

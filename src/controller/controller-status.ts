import type { DesiredState } from "../config/desired.js";
import type { Config } from "../config/schema.js";
import type { HoldEntry } from "./hold.js";
import type { BreakerStatus } from "./policy/breaker.js";
import { activeWindow } from "./policy/maintenance.js";
import { activePauses } from "./policy/pause.js";
import { activeQuarantines } from "./policy/quarantine.js";
import type { Pause, QuarantineEntry } from "./policy/types.js";
import type { StateStore } from "./state-store.js";

export interface ControllerStatus {
  mode: Config["remediation"]["mode"];
  leader?: { self: boolean; fencingToken?: number };
  /** Pauses in force now. */
  pauses: Pause[];
  breaker: BreakerStatus & { unhealthyFraction: number; minHosts: number; since?: number };
  /** Maintenance windows open now; `deployment` absent: all deployments. */
  maintenance: { deployment?: string; cron: string; until: number }[];
  quarantined: QuarantineEntry[];
  drift: { deployment: string; host: string; since: number }[];
  /** Hosts held at the generation NixGuard rolled them back to. */
  held: HoldEntry[];
}

export interface StatusInput {
  config: Config;
  desired: DesiredState;
  now: number;
  store: StateStore;
  breaker: BreakerStatus;
  breakerSince: number | undefined;
  leader?: { isLeader(): boolean; fencingToken(): number | undefined };
  timezone?: string;
}

/** Mode, pauses, breaker, maintenance, quarantines and drift as the API shows them. */
export async function controllerStatus(input: StatusInput): Promise<ControllerStatus> {
  const { config, desired, now, store } = input;
  const [{ pauses, quarantines, drift }, held] = await Promise.all([store.policyRecords(), store.holds()]);
  const maintenance: ControllerStatus["maintenance"] = [];
  for (const window of config.remediation.maintenance) {
    const targets = window.deployments ?? [undefined];
    for (const deployment of targets) {
      const active = activeWindow(
        {
          deployment: deployment ?? desired.deployments[0]?.name ?? "",
          windows: [window],
          ...(input.timezone ? { timezone: input.timezone } : {}),
        },
        now,
      );
      if (active)
        maintenance.push({ ...(deployment ? { deployment } : {}), cron: window.cron, until: active.end });
    }
  }
  const token = input.leader?.fencingToken();
  return {
    mode: config.remediation.mode,
    ...(input.leader
      ? { leader: { self: input.leader.isLeader(), ...(token !== undefined ? { fencingToken: token } : {}) } }
      : {}),
    pauses: activePauses(pauses, now),
    breaker: {
      ...input.breaker,
      unhealthyFraction: config.remediation.breaker.unhealthyFraction,
      minHosts: config.remediation.breaker.minHosts,
      ...(input.breakerSince !== undefined ? { since: input.breakerSince } : {}),
    },
    maintenance,
    quarantined: activeQuarantines(quarantines, now),
    drift: Object.entries(drift).map(([key, since]) => {
      const [deployment = "", host = ""] = key.split("/");
      return { deployment, host, since };
    }),
    held,
  };
}

import type { Action } from "../action.js";
import type { PauseScope } from "../controller/policy/index.js";
import type { SimControlClient } from "../sim/control-client.js";
import type { Tone } from "./format.js";

/**
 * `nixguard demo --alerts`: instead of short faults that NixGuard heals in seconds, episodes
 * that hold a fault for `holdMs` so that each alert of contrib/prometheus/alerts.yml fires
 * against a Prometheus scraping the demo. Each episode names the alerts it is for; together
 * they cover every rule but NixGuardDown, which fires when the demo stops.
 */
export interface TourDeps {
  control: Pick<SimControlClient, "inject" | "healAll" | "setNixops4">;
  reset: (scope: PauseScope, actor: string) => Promise<unknown>;
  pause: (scope: PauseScope, reason: string) => Promise<unknown>;
  resume: (scope: PauseScope) => Promise<unknown>;
  request: (action: Action) => Promise<unknown>;
  /** The worker stops taking jobs (resume: takes them again). */
  pauseWorker: () => Promise<void>;
  resumeWorker: () => void;
  /** The only controller stops campaigning for the lease and gives it up (start: campaigns again). */
  stopLeading: () => Promise<void>;
  startLeading: () => Promise<void>;
  /** Resolves true when every host is healthy, false after `timeoutMs` or stop. */
  fleetHealthy: (timeoutMs: number, signal: AbortSignal) => Promise<boolean>;
  deployment: string;
  holdMs: number;
  say: (host: string, tag: string, text: string, tone: Tone) => void;
  heading: (text: string) => void;
}

export interface Episode {
  title: string;
  /** The alerts this episode is for. */
  alerts: string[];
  /** The FAULT line: what is held. */
  injected: string;
  begin(d: TourDeps): Promise<void>;
  end(d: TourDeps): Promise<void>;
}

/** Paused in the partition episode, so the dashboard's pause panels have a pause to show. */
const garage = (d: TourDeps): PauseScope => ({ kind: "host", deployment: d.deployment, host: "garage" });

/** Every episode starts from a healthy fleet; waiting for it is bounded by this. */
const SETTLE_TIMEOUT_MS = 60_000;

export const EPISODES: Episode[] = [
  {
    title: "Deploys fail while peertube is down and pixelfed drifted",
    alerts: ["DeployFailing", "HostUnhealthy", "RemediationQuarantined", "HostDrift"],
    injected:
      "nixops4 apply fails; peertube.service fails on every restart; pixelfed switched to another system by hand",
    async begin(d) {
      await d.control.setNixops4({ mode: "fail" });
      await d.control.inject({
        kind: "unit-fail",
        host: "peertube",
        unit: "peertube.service",
        keepFailing: true,
      });
      await d.control.inject({ kind: "drift", host: "pixelfed" });
    },
    async end(d) {
      await d.control.setNixops4({ mode: "ok" });
      await d.control.healAll();
      await d.reset({ kind: "deployment", deployment: d.deployment }, "demo");
    },
  },
  {
    title: "A network partition: three of four hosts unreachable",
    alerts: ["HostUnreachable", "CircuitBreakerOpen"],
    injected:
      "ssh to garage, mastodon and peertube is refused, their HTTP endpoints hang; the operator pauses garage while looking into it",
    async begin(d) {
      // More than remediation.breaker.unhealthyFraction (half) of the fleet: the breaker opens.
      for (const host of ["garage", "mastodon", "peertube"])
        await d.control.inject({ kind: "unreachable", host, mode: "refused" });
      await d.pause(garage(d), "network partition: being looked into");
    },
    async end(d) {
      await d.control.healAll();
      await d.resume(garage(d));
    },
  },
  {
    title: "Workers stopped and no controller leads",
    alerts: ["QueueStuck", "NixGuardNoLeader"],
    injected: "the worker takes no jobs, a redeploy waits; the controller gives up the leader lease",
    async begin(d) {
      await d.pauseWorker();
      await d.request({ kind: "redeploy", deployment: d.deployment, target: d.deployment });
      await d.stopLeading();
    },
    async end(d) {
      await d.startLeading();
      d.resumeWorker();
    },
  },
];

export class AlertTour {
  private readonly stopping = new AbortController();
  private done: Promise<void> | undefined;

  constructor(
    private readonly deps: TourDeps,
    private readonly episodes: Episode[] = EPISODES,
  ) {}

  start(): void {
    this.done ??= this.run().catch((err) => {
      if (!this.stopping.signal.aborted) this.deps.say("demo", "ERROR", `alert tour stopped: ${err}`, "bad");
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const { deps, episodes } = this;
    const signal = this.stopping.signal;
    for (let round = 0; !signal.aborted; round++) {
      const e = episodes[round % episodes.length] as Episode;
      if (!(await deps.fleetHealthy(SETTLE_TIMEOUT_MS, signal)) && !signal.aborted)
        deps.say("fleet", "NOT READY", "not all hosts healthy; starting the episode anyway", "note");
      if (signal.aborted) return;
      deps.heading(`── ${(round % episodes.length) + 1}/${episodes.length}  ${e.title}`);
      deps.heading(`   fires: ${e.alerts.join(", ")} (held ${deps.holdMs / 1000} s)`);
      // Budgets refill over their window; the demo starts each episode with a fresh one.
      await deps.reset({ kind: "deployment", deployment: deps.deployment }, "demo");
      await e.begin(deps);
      deps.say("demo", "FAULT", e.injected, "bad");
      await sleep(deps.holdMs, signal);
      // Ended even when stopping: the leader and the worker come back for a clean shutdown.
      await e.end(deps);
      deps.say("demo", "HEALED", `end of: ${e.title}`, "good");
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

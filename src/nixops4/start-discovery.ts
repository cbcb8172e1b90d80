import type { LoadedConfig } from "../config/load.js";
import type { ConfigIssue } from "../errors.js";
import type { Logger } from "../log.js";
import type { Nixops4Generation } from "./argv.js";
import { type DeploymentTargets, discoverTargets } from "./check-targets.js";

/**
 * What `serve` knows of each deployment's nixops4, asked at start (the same read-only discovery
 * as `config check --deep`). nixops4 answering that a target is not there or not applicable
 * refuses the start (exit 78); nixops4 not answering at all (not on PATH yet, its evaluation
 * failing, a timeout) does not: NixGuard starts — probing and restarts do not need nixops4 —,
 * says so in the log, the events and /api/v1/status, and asks again with a backoff until it
 * answers. A missing binary is an installation step still to come, not a broken config.
 */
export type TargetsState = "pending" | "ok" | "refused" | "unknown";

export interface Nixops4DeploymentStatus {
  deployment: string;
  flake: string;
  state: TargetsState;
  /** older: `deployments list`, stdout logging; newer: `members list`, stderr logging. */
  generation?: "older" | "newer";
  checkedAt?: number;
  /** Why nixops4 could not answer (state unknown). */
  error?: string;
  /** Why targets were refused (state refused). */
  problems?: string[];
  /** Next time it is asked again (state unknown). */
  nextTryAt?: number;
}

export const generationName = (g: Nixops4Generation): "older" | "newer" =>
  g === "members" ? "newer" : "older";

/** Pure: one deployment's status from what discovery found. */
export function statusOf(r: DeploymentTargets, at: number): Nixops4DeploymentStatus {
  const base = {
    deployment: r.deployment,
    flake: r.flake,
    checkedAt: at,
    ...(r.generation ? { generation: generationName(r.generation) } : {}),
  };
  if (r.error !== undefined) return { ...base, state: "unknown", error: r.error };
  if (r.issues.length > 0)
    return { ...base, state: "refused", problems: r.issues.map((i) => `${i.path}: ${i.message}`) };
  return { ...base, state: "ok" };
}

/** Pure: the wait before the n-th retry (n ≥ 1): doubling from `first`, capped at `max`. */
export const retryDelay = (n: number, first: number, max: number): number =>
  Math.min(max, first * 2 ** Math.min(30, Math.max(0, n - 1)));

export interface TargetDiscoveryOptions {
  config: () => LoadedConfig;
  logger: Logger;
  /** A deployment whose targets nixops4 could not check, or refused after start (an event). */
  report: (deployment: string, reason: string) => void;
  retryMs: number;
  maxRetryMs: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export class TargetDiscovery {
  private readonly byDeployment = new Map<string, Nixops4DeploymentStatus>();
  private timer: NodeJS.Timeout | undefined;
  private retries = 0;
  private stopped = false;
  /** Discovery runs one at a time: a reload's re-check waits for a retry under way. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: TargetDiscoveryOptions) {}

  status(): Nixops4DeploymentStatus[] {
    return this.o
      .config()
      .desired.deployments.map(
        (d) => this.byDeployment.get(d.name) ?? { deployment: d.name, flake: d.flake, state: "pending" },
      );
  }

  /** At start: the refused targets (the caller refuses to start); unanswered ones are retried. */
  async atStart(): Promise<ConfigIssue[]> {
    const results = await this.ask();
    this.schedule();
    return results.flatMap((r) => r.issues);
  }

  /** Events for what start found wanting (the event log exists only after start's first steps). */
  announce(): void {
    for (const s of this.byDeployment.values())
      if (s.state === "unknown") this.o.report(s.deployment, reasonOf(s));
  }

  /** After a config reload: every deployment is asked again, in the background. */
  recheck(): void {
    this.byDeployment.clear();
    this.retries = 0;
    this.run(undefined);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run(only: ReadonlySet<string> | undefined): void {
    this.chain = this.chain
      .then(async () => {
        if (this.stopped) return;
        await this.ask(only, true);
        this.schedule();
      })
      .catch((err) => this.o.logger.error({ err }, "nixops4 target discovery failed"));
  }

  /** Asks nixops4; with `report`, a deployment whose answer changed gets an event. */
  private async ask(only?: ReadonlySet<string>, report = false): Promise<DeploymentTargets[]> {
    const results = await discoverTargets(this.o.config(), this.o.env, only);
    const now = (this.o.now ?? Date.now)();
    for (const r of results) {
      const s = statusOf(r, now);
      const prev = this.byDeployment.get(r.deployment);
      this.byDeployment.set(r.deployment, s);
      if (report && (prev?.state !== s.state || prev.error !== s.error))
        this.o.report(s.deployment, reasonOf(s));
      const fields = { deployment: s.deployment, flake: s.flake, generation: s.generation };
      if (s.state === "ok") this.o.logger.info(fields, "nixops4 can apply every configured target");
      else if (s.state === "refused")
        this.o.logger.error({ ...fields, problems: s.problems }, "nixops4 refuses targets");
      else
        this.o.logger.error(
          { ...fields, error: s.error },
          "nixops4 could not check targets; asking again later",
        );
    }
    return results;
  }

  /** Asks again, later, for the deployments nixops4 did not answer for. */
  private schedule(): void {
    if (this.stopped || this.timer) return;
    const unknown = [...this.byDeployment.values()].filter((s) => s.state === "unknown");
    if (unknown.length === 0) {
      this.retries = 0;
      return;
    }
    const wait = retryDelay(++this.retries, this.o.retryMs, this.o.maxRetryMs);
    const at = (this.o.now ?? Date.now)() + wait;
    for (const s of unknown) s.nextTryAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run(new Set(unknown.map((s) => s.deployment)));
    }, wait);
    this.timer.unref();
  }
}

/** Pure: an event's reason for a deployment's status. */
export function reasonOf(s: Nixops4DeploymentStatus): string {
  const cli = s.generation ? `nixops4 ${s.generation} CLI` : "nixops4";
  if (s.state === "ok") return `${cli} in ${s.flake} can apply every configured target`;
  if (s.state === "refused") return `${cli} refuses targets: ${(s.problems ?? []).join("; ")}`;
  return `nixops4 could not check the targets in ${s.flake} (redeploys may fail until it can; asking again): ${s.error ?? "no answer"}`;
}

import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { ActionOutcome } from "./action.js";
import { type ApiToken, loadTokens } from "./api/auth.js";
import { type ListeningApi, startServer } from "./api/server.js";
import { allHosts, type HostSpec, hostKey } from "./config/desired.js";
import { type LoadedConfig, loadConfigFile } from "./config/load.js";
import { startOnlyChanges } from "./config/start-only.js";
import { Controller, type ControllerDeps } from "./controller/controller.js";
import { EventLog } from "./controller/events.js";
import { LeaderElector } from "./controller/leader.js";
import { Notifier } from "./controller/notify.js";
import type { PolicyMirror } from "./controller/policy-mirror.js";
import { Scheduler } from "./controller/schedule.js";
import { KeyedSerial } from "./controller/serial.js";
import { StateStore } from "./controller/state-store.js";
import type { HostHealth } from "./controller/types.js";
import { ConfigError, type ConfigIssue, isNixGuardError } from "./errors.js";
import type { Logger } from "./log.js";
import {
  createMetrics,
  forgetDeploymentSeries,
  forgetHost,
  initDeploymentSeries,
  type Metrics,
} from "./metrics.js";
import { TargetDiscovery } from "./nixops4/start-discovery.js";
import { ProbeScheduler } from "./probes/scheduler.js";
import { probeSelf, publishSelf, type SelfResources } from "./probes/self.js";
import { createTransport } from "./probes/transports/index.js";
import { TransportRegistry } from "./probes/transports/registry.js";
import type { HostObservation } from "./probes/types.js";
import { JobLogStore } from "./queue/job-log.js";
import { ACTION_QUEUE, BullActionQueue } from "./queue/producer.js";
import { type ActionWorker, startWorker } from "./queue/worker.js";
import { createRedis, describeRedisTarget } from "./redis/connection.js";
import { type EmbeddedRedis, startEmbeddedRedis } from "./redis/embedded.js";
import { underFence } from "./redis/fence.js";
import { type RedisTarget, readSecretFile, redisTargetFromConfig } from "./redis/target.js";
import { RuntimeControlPlane } from "./runtime/control-plane-adapter.js";
import { HealthBook } from "./runtime/health-book.js";
import { lastDeployKey } from "./runtime/last-deploy.js";
import { Probing } from "./runtime/probing.js";
import { SuppressionCache } from "./runtime/suppression.js";
import { VERSION } from "./version.js";

export interface Roles {
  /** Competes for the lease; the leader probes, plans and runs schedules. */
  controller: boolean;
  /** Runs queued actions (restarts, nixops4 applies). */
  worker: boolean;
  /** Serves the REST API and /metrics. */
  api: boolean;
  /**
   * Probes a share of the hosts for the leader without competing for the lease. The controller
   * role probes too (its share, or everything when alone and leading).
   */
  probe?: boolean;
}

export const ALL_ROLES: Roles = { controller: true, worker: true, api: true };

export interface ManagerOptions {
  loaded: LoadedConfig;
  logger: Logger;
  roles?: Roles;
  /** Tokens given directly (the demo); otherwise read from config.api.tokens files. */
  tokens?: ApiToken[];
  /** Overrides api.listen (tests bind port 0). */
  listen?: string;
  /** Node's process metrics; off when several managers share a process (tests). */
  processMetrics?: boolean;
  /** Test seams: BullMQ timings and the leader election's identity. */
  bull?: { lockDuration?: number; stalledInterval?: number; maxStalledCount?: number };
  identity?: string;
  /**
   * Ask nixops4 in each deployment's directory what it can apply before starting (`serve` does):
   * a target it refuses stops the start (exit 78); no answer is retried from `retryMs` doubling
   * to `maxRetryMs` (defaults 30 s and 10 min).
   */
  discoverTargets?: boolean | { retryMs?: number; maxRetryMs?: number };
  /** Test seam: awaited in a planning pass before its decisions (ControllerDeps.beforeDecisions). */
  beforeDecisions?: ControllerDeps["beforeDecisions"];
}

/**
 * Starts and stops NixGuard's long-lived parts in order (controller-runtime's manager): Redis →
 * queue, events, state → worker → leader election (leader-only: probes, controller loop,
 * schedules) → API. Stops in reverse. A config reload swaps the whole config or nothing.
 */
export class Manager {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly roles: Roles;
  private loaded: LoadedConfig;
  private embedded: EmbeddedRedis | undefined;
  /** A URL (given, or the embedded server's) or a Sentinel set; holds passwords: never logged. */
  private redisTarget: RedisTarget = "";
  redis!: Redis;
  queue!: BullActionQueue;
  events!: EventLog;
  store!: StateStore;
  controller!: Controller;
  health!: HealthBook;
  leader: LeaderElector | undefined;
  worker: ActionWorker | undefined;
  api: ListeningApi | undefined;
  /** Who probes what: this process's share of the hosts, the membership, the stream (leader). */
  probing!: Probing;
  private policySubscriber: Redis | undefined;
  private policyMirror: PolicyMirror | undefined;
  private outcomeEvents: { events: QueueEvents; connection: Redis } | undefined;
  private schedules: Scheduler | undefined;
  private notifier: Notifier | undefined;
  private suppression!: SuppressionCache;
  /** The one owner of transports: the scheduler, restarts and one-off probes borrow from it. */
  private readonly transports: TransportRegistry;
  private timers: NodeJS.Timeout[] = [];
  /** This process leads: it plans, runs schedules and judges every observation. */
  private leading = false;
  private stopping = false;
  /** start() has finished: a config reload may swap the config in. */
  private started = false;
  /** One config reload at a time. */
  private readonly reloads = new KeyedSerial();
  /** The NixGuard host's own resources, measured every probe interval. */
  self: SelfResources | undefined;
  private readonly startedAt = Date.now();
  private readonly fatalListeners: ((err: Error) => void)[] = [];
  /** What nixops4 answered in each deployment's directory (only when asked to discover). */
  private discovery: TargetDiscovery | undefined;

  constructor(private readonly opts: ManagerOptions) {
    this.loaded = opts.loaded;
    this.logger = opts.logger;
    this.roles = opts.roles ?? ALL_ROLES;
    this.metrics = createMetrics({ version: VERSION, processMetrics: opts.processMetrics !== false });
    this.transports = new TransportRegistry((h) =>
      createTransport(h, { runtimeDir: this.loaded.config.state.runtimeDir }),
    );
  }

  /** Something NixGuard cannot run without is gone for good (the embedded Redis keeps dying). */
  onFatal(listener: (err: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  get current(): LoadedConfig {
    return this.loaded;
  }

  get url(): string | undefined {
    return this.api?.url;
  }

  get redisConnection(): RedisTarget {
    return this.redisTarget;
  }

  async start(): Promise<void> {
    const { config } = this.loaded;
    const log = this.logger;
    // Before anything starts: a target nixops4 says it cannot apply is a config error (exit 78).
    await this.discoverTargets();
    initDeploymentSeries(this.metrics, Object.keys(config.deployments));
    // Token files first: a missing or empty one is a clear error before anything has started.
    const tokens = this.roles.api ? (this.opts.tokens ?? loadTokens(config.api.tokens, log)) : [];
    mkdirSync(config.state.runtimeDir, { recursive: true, mode: 0o700 });

    const given = redisTargetFromConfig(config.redis, (file, what) =>
      readSecretFile(file, what, (message) => log.warn(message)),
    );
    if (given !== undefined) {
      this.redisTarget = given;
      log.info({ redis: describeRedisTarget(given) }, "using Redis");
    } else {
      mkdirSync(config.state.dir, { recursive: true, mode: 0o700 });
      this.embedded = await startEmbeddedRedis({
        stateDir: config.state.dir,
        logger: log,
        // It keeps dying: NixGuard cannot plan or queue anything, so it ends (exit 69) for its
        // service manager to restart rather than staying up and inert.
        onGiveUp: (err) => {
          for (const listener of this.fatalListeners) listener(err);
        },
      });
      this.redisTarget = this.embedded.url;
    }
    const prefix = config.redis.prefix;
    this.redis = createRedis(this.redisTarget, { role: "client", logger: log });
    this.queue = new BullActionQueue({ connection: this.redisTarget, prefix, logger: log });
    this.events = new EventLog(this.redis, prefix, { logger: log });
    this.store = new StateStore(this.redis, prefix);
    if (this.roles.api) {
      // The API reads pauses, quarantines and drift on every host request: mirror them in memory.
      this.policySubscriber = createRedis(this.redisTarget, {
        role: "client",
        logger: log,
        overrides: { connectionName: "nixguard-policy-subscriber", autoResubscribe: false },
      });
      this.policyMirror = this.store.mirrorPolicy(this.policySubscriber, log);
    }
    this.suppression = new SuppressionCache({ store: this.store, getDesired: () => this.loaded.desired });
    this.notifier = new Notifier({ targets: () => this.loaded.config.notify, logger: log });
    this.events.subscribe((e) => this.notifier?.notify(e));
    this.discovery?.announce();

    this.health = new HealthBook({
      getConfig: () => this.loaded.config,
      metrics: this.metrics,
      logger: log,
      isSuppressed: (d, h) => this.suppression.isSuppressed(d, h),
      onHealth: (h, prev) => this.onHealth(h, prev),
    });

    if (this.roles.controller) {
      this.leader = new LeaderElector({
        redis: this.redis,
        prefix,
        leaseMs: config.leader.lease,
        renewMs: config.leader.renew,
        logger: log,
        metrics: this.metrics,
        ...(this.opts.identity ? { identity: this.opts.identity } : {}),
      });
    }
    this.controller = new Controller({
      getConfig: () => this.loaded,
      queue: this.queue,
      store: this.store,
      events: this.events,
      health: this.health,
      metrics: this.metrics,
      logger: log,
      reprobe: async (d, h) => {
        void this.suppression.invalidate(d);
        await this.probing.reprobe(d, h);
      },
      ...(this.leader ? { leader: this.leader } : {}),
      ...(this.opts.beforeDecisions ? { beforeDecisions: this.opts.beforeDecisions } : {}),
    });

    if (this.roles.worker) {
      this.worker = await startWorker({
        connection: this.redisTarget,
        prefix,
        concurrency: config.worker.concurrency,
        logger: log,
        metrics: this.metrics,
        getDesired: () => this.loaded.desired,
        borrow: (h) => this.transports.borrow(h),
        nixops4: config.nixops4,
        lockTtlMs: config.worker.lockTtl,
        restartTimeoutMs: () => this.loaded.config.remediation.restartTimeout,
        logLimitBytes: config.worker.logLimitBytes,
        rollbackTimeoutMs: () => this.loaded.config.remediation.rollback.switchTimeout,
        runtimeDir: config.state.runtimeDir,
        onOutcome: (o) => this.recordOutcome(o),
        ...(this.opts.bull ? { bull: this.opts.bull } : {}),
      });
    }

    if (this.roles.controller) this.listenForOutcomes(prefix);
    this.probing = new Probing({
      member: this.roles.controller || this.roles.probe === true,
      identity: this.leader?.identity ?? this.opts.identity ?? randomUUID(),
      info: {
        pid: process.pid,
        hostname: hostname(),
        roles: Object.entries(this.roles)
          .filter(([, on]) => on)
          .map(([name]) => name),
        startedAt: this.startedAt,
      },
      redis: this.redis,
      connect: () =>
        createRedis(this.redisTarget, {
          role: "worker",
          logger: log,
          overrides: { connectionName: "nixguard-observations" },
        }),
      prefix,
      config: () => this.loaded,
      health: this.health,
      newScheduler: (desired, deliver) =>
        new ProbeScheduler({ ...this.schedulerOptions(), desired, onObservation: deliver }),
      metrics: this.metrics,
      logger: log,
    });
    // Before the lease: whether this process is alone decides what it probes once it leads.
    await this.probing.start();
    if (this.leader) {
      const leader = this.leader;
      // Back from an outage or a failover: campaign at once rather than at the next renewal.
      this.redis.on("ready", () => leader.retryNow());
      this.leader.onChange((isLeader) => {
        if (this.stopping) return;
        if (isLeader) this.startLeading();
        else void this.stopLeading();
      });
      await this.leader.start();
    }

    this.every(config.probes.interval, () => this.refreshGauges());
    void this.refreshGauges();

    if (this.roles.api) {
      this.api = await startServer(
        {
          control: new RuntimeControlPlane({
            config: () => this.loaded,
            controller: this.controller,
            health: this.health,
            jobs: this.queue,
            logs: new JobLogStore(this.redis, prefix, { limitBytes: config.worker.logLimitBytes }),
            store: this.store,
            events: this.events,
            ...(this.leader ? { leader: this.leader } : {}),
            lastDeploys: () => this.redis.hgetall(lastDeployKey(prefix)),
            // Not connected (a failover under way, Redis down): not ready, at once — a ping
            // would wait in the offline queue through the reconnect attempts.
            redisUp: async () => this.redis.status === "ready" && (await this.redis.ping()) === "PONG",
            embeddedRedis: () => this.embedded?.status(),
            probeNow: (d, h) => this.probeNow(d, h),
            probing: this.probing,
            reload: () => this.reloadFromFile(),
            self: () => this.self,
            ...(this.discovery ? { nixops4: () => this.discovery?.status() ?? [] } : {}),
            startedAt: this.startedAt,
          }),
          metrics: this.metrics,
          tokens,
          logger: log,
          config: {
            metricsAuth: config.api.metricsAuth,
            bodyLimit: config.api.bodyLimit,
            rateLimit: config.api.rateLimit,
          },
        },
        this.opts.listen ?? config.api.listen,
      );
    }
    log.info(
      {
        roles: this.roles,
        deployments: this.loaded.desired.deployments.length,
        hosts: allHosts(this.loaded.desired).length,
      },
      "NixGuard started",
    );
    this.started = true;
  }

  /** Stops taking work, gives a running apply `worker.shutdownGrace`, then closes everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.discovery?.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.api?.close().catch((e) => this.logger.warn({ err: e }, "closing the API"));
    await this.stopLeading();
    await this.probing?.stop();
    await this.leader?.stop().catch(() => undefined);
    await this.worker?.close(this.loaded.config.worker.shutdownGrace);
    await this.outcomeEvents?.events.close().catch(() => undefined);
    this.outcomeEvents?.connection.disconnect();
    await this.notifier?.close().catch(() => undefined);
    await this.transports.close();
    this.health?.close();
    await this.queue?.close().catch(() => undefined);
    this.policyMirror?.close();
    this.policySubscriber?.disconnect();
    this.redis?.disconnect();
    await this.embedded?.stop();
    this.logger.info("NixGuard stopped");
  }

  /**
   * Re-reads the config file. An invalid one is refused with its issues; the old one keeps
   * running. Reloads run one at a time (a SIGHUP and an API reload at once would interleave their
   * swaps), and only between start and stop: before, the parts a swap updates do not exist yet.
   */
  reloadFromFile(file = this.loaded.file): Promise<{ ok: true } | { ok: false; issues: ConfigIssue[] }> {
    return this.reloads.run("reload", () => this.reloadNow(file));
  }

  private async reloadNow(
    file: string | undefined,
  ): Promise<{ ok: true } | { ok: false; issues: ConfigIssue[] }> {
    if (!this.started || this.stopping) {
      const message = this.stopping
        ? "NixGuard is stopping"
        : "NixGuard is still starting; reload once it runs";
      return { ok: false, issues: [{ path: "", message }] };
    }
    if (!file)
      return { ok: false, issues: [{ path: "", message: "NixGuard was not started from a config file" }] };
    let next: LoadedConfig;
    try {
      next = loadConfigFile(file);
    } catch (e) {
      if (e instanceof ConfigError) return { ok: false, issues: e.issues };
      if (isNixGuardError(e)) return { ok: false, issues: [{ path: "", message: e.message }] };
      throw e;
    }
    const startOnly = startOnlyChanges(this.loaded.config, next.config);
    if (startOnly.length > 0) return { ok: false, issues: startOnly };
    await this.swap(next);
    return { ok: true };
  }

  /** Swaps the whole config: probes add/remove hosts, removed hosts lose jobs and metric series. */
  async swap(next: LoadedConfig): Promise<void> {
    const prev = this.loaded;
    this.loaded = next;
    initDeploymentSeries(this.metrics, Object.keys(next.config.deployments));
    for (const name of Object.keys(prev.config.deployments))
      if (!Object.hasOwn(next.config.deployments, name)) forgetDeploymentSeries(this.metrics, name);
    const nextHosts = allHosts(next.desired);
    const keep = new Set(nextHosts.map((h) => hostKey(h.deployment, h.name)));
    const prevHosts = allHosts(prev.desired);
    const removed = prevHosts.filter((h) => !keep.has(hostKey(h.deployment, h.name)));
    // Transports of removed hosts, and of kept hosts whose settings changed (address, user, port,
    // kind), are retired first: the scheduler then borrows new ones rather than the old object
    // (it kept probing the old address while restarts went to the new one). Each retired one is
    // closed when its last borrower (a probe, a restart) releases it.
    this.transports.retain(nextHosts);
    await this.probing.reloaded();
    this.health.retain(next.desired);
    await this.store
      .forgetHosts(removed)
      .catch((err) => this.logger.warn({ err }, "could not forget removed hosts' generations"));
    for (const h of removed) {
      forgetHost(this.metrics, h.deployment, h.name);
      const cancelled = await this.queue.cancelForHost(h.deployment, h.name).catch(() => 0);
      if (cancelled > 0)
        this.logger.info(
          { deployment: h.deployment, host: h.name, cancelled },
          "cancelled jobs of a removed host",
        );
    }
    await this.events
      .append({
        time: Date.now(),
        kind: "config",
        reason: `config reloaded: ${nextHosts.length} host(s), ${removed.length} removed`,
      })
      .catch(() => undefined);
    this.controller.reloaded();
    this.discovery?.recheck();
    const schedules = this.schedules;
    if (schedules) {
      // node-cron tasks are built from the schedule at start: rebuild them from the new one —
      // unless leadership was lost meanwhile (stopLeading dropped them: they must stay stopped).
      await schedules.stop();
      if (this.schedules === schedules) schedules.start();
    }
  }

  /**
   * Probe one host now (API): through this process's scheduler when it probes the host, else a
   * one-host scheduler borrowing the host's transport from the registry.
   */
  probeNow(deployment: string, host: string): Promise<HostObservation> {
    return this.probing.probeNow(deployment, host);
  }

  // ---- internals ----

  private async discoverTargets(): Promise<void> {
    const opt = this.opts.discoverTargets;
    if (!opt) return;
    this.discovery = new TargetDiscovery({
      config: () => this.loaded,
      logger: this.logger,
      report: (deployment, reason) =>
        void this.events
          ?.append({ time: Date.now(), kind: "config", deployment, reason })
          .catch(() => undefined),
      retryMs: (typeof opt === "object" ? opt.retryMs : undefined) ?? 30_000,
      maxRetryMs: (typeof opt === "object" ? opt.maxRetryMs : undefined) ?? 600_000,
    });
    const refused = await this.discovery.atStart();
    if (refused.length > 0) {
      this.discovery.stop();
      throw new ConfigError(refused, this.loaded.file);
    }
  }

  private schedulerOptions() {
    const { config, desired } = this.loaded;
    return {
      desired,
      borrow: (h: HostSpec) => this.transports.borrow(h),
      metrics: this.metrics,
      logger: this.logger,
      intervalMs: config.probes.interval,
      jitter: config.probes.jitter,
      timeoutMs: config.probes.timeout,
      concurrency: config.probes.concurrency,
      onObservation: (spec: HostSpec, obs: HostObservation) => {
        this.health.observe(spec, obs);
      },
    };
  }

  private startLeading(): void {
    if (this.leading) return;
    this.leading = true;
    this.logger.info({ fencingToken: this.leader?.fencingToken() }, "leading: probing and planning");
    // Fenced like the planning's writes: a leader that lost the lease again at once says nothing.
    void underFence(this.leader?.fence(), () =>
      this.events.append({
        time: Date.now(),
        kind: "leader",
        reason: `leader ${this.leader?.identity ?? ""}`.trim(),
      }),
    ).catch(() => undefined);
    this.controller.start();
    void this.probing.setLeading(true);
    this.schedules = new Scheduler({
      schedule: () => this.loaded.config.schedule,
      trigger: (d) => this.controller.scheduledRedeploy(d),
      logger: this.logger,
    });
    this.schedules.start();
  }

  private async stopLeading(): Promise<void> {
    const schedules = this.schedules;
    // Cleared before anything is awaited: a reload in progress must see them gone.
    this.schedules = undefined;
    if (!this.leading) return;
    this.leading = false;
    this.logger.info("no longer leading: planning stopped, probing only a share if others probe");
    await Promise.allSettled([this.probing.setLeading(false), this.controller.stop(), schedules?.stop()]);
  }

  private onHealth(h: HostHealth, prev: HostHealth | undefined): void {
    this.controller.observe(h, prev);
    if (prev?.state === h.state) return;
    const from = prev?.state ?? "unknown";
    const kind =
      h.state === "healthy"
        ? from === "unknown"
          ? undefined
          : "recover"
        : h.state === "unreachable"
          ? "unreachable"
          : h.state === "failing"
            ? "detect"
            : undefined;
    if (!kind) return;
    void this.events
      .append({
        time: Date.now(),
        kind,
        deployment: h.deployment,
        host: h.host,
        reason:
          kind === "recover" ? `healthy again (was ${from})` : h.reasons.slice(0, 3).join("; ").slice(0, 300),
      })
      .catch(() => undefined);
  }

  /** The worker ran a job here: its outcome's state goes to Redis before the job completes. */
  private async recordOutcome(o: ActionOutcome): Promise<void> {
    void this.suppression.invalidate(o.action.deployment);
    if (o.action.kind === "redeploy") {
      // Kept in Redis, so every process's API (and a restarted one) shows the last deploy.
      const last = { outcome: o.outcome, finishedAt: o.finishedAt, jobId: o.jobId };
      await this.redis
        .hset(lastDeployKey(this.loaded.config.redis.prefix), o.action.deployment, JSON.stringify(last))
        .catch((e) => this.logger.warn({ err: e }, "recording the last deploy"));
    }
    await this.controller.recordOutcome(o);
  }

  /**
   * Every finished job's outcome reaches the controller processes through BullMQ's event stream
   * in Redis, whichever process ran it; the leader re-probes, emits the outcome event and wakes
   * the deployment (a worker-only or standby process cannot: it does not probe).
   */
  private listenForOutcomes(prefix: string): void {
    const connection = createRedis(this.redisTarget, { role: "worker", logger: this.logger });
    const events = new QueueEvents(ACTION_QUEUE, { connection, prefix });
    events.on("error", (err) => this.logger.warn({ err: { message: err.message } }, "outcome events error"));
    events.on("completed", ({ returnvalue }) => {
      const o = parseOutcome(returnvalue);
      if (!o || !this.leader?.isLeader() || this.stopping) return;
      void this.suppression.invalidate(o.action.deployment);
      this.controller
        .afterOutcome(o)
        .catch((err) => this.logger.warn({ err, jobId: o.jobId }, "handling an outcome failed"));
    });
    this.outcomeEvents = { events, connection };
  }

  private async refreshGauges(): Promise<void> {
    try {
      const counts = await this.queue.counts();
      for (const [state, n] of Object.entries(counts)) this.metrics.queueJobs.set({ state }, n);
    } catch {
      // Redis down: /readyz says so; the gauges keep their last values.
    }
    try {
      const { config } = this.loaded;
      const paths = { stateDir: config.state.dir, nixStore: "/nix/store" };
      const res = await probeSelf(paths);
      publishSelf(this.metrics, res, paths);
      this.self = res;
    } catch (e) {
      this.logger.debug({ err: e }, "self resources unavailable");
    }
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

/** A completed job's return value, as BullMQ's event stream carries it (JSON text). */
function parseOutcome(value: unknown): ActionOutcome | undefined {
  try {
    const o = (typeof value === "string" ? JSON.parse(value) : value) as ActionOutcome | null;
    return o && typeof o === "object" && o.action && typeof o.jobId === "string" ? o : undefined;
  } catch {
    return undefined;
  }
}

import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { ActionJobData, ActionOutcome } from "../action.js";
import type { DesiredState } from "../config/desired.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { prepareNixops4Ssh } from "../nixops4/ssh-env.js";
import type { TransportBorrow } from "../probes/transports/registry.js";
import { createRedis } from "../redis/connection.js";
import { jobFenceState } from "../redis/fence.js";
import type { RedisTarget } from "../redis/target.js";
import { FlakeLock } from "./flake-lock.js";
import { handleRedeploy } from "./handle-redeploy.js";
import { handleRestart } from "./handle-restart.js";
import { handleRollback } from "./handle-rollback.js";
import type { HandlerDeps, HandlerResult, JobRun } from "./job-context.js";
import { JobLogStore } from "./job-log.js";
import type { Nixops4Settings } from "./nixops4.js";
import { ACTION_QUEUE } from "./producer.js";
import { RestartUnits } from "./restart-units.js";

export interface StartWorkerOptions {
  /** A Redis URL or a Sentinel set. */
  connection: RedisTarget;
  prefix: string;
  concurrency: number;
  logger: Logger;
  metrics: Metrics;
  getDesired: () => DesiredState;
  /** Borrows the host's transport; a job releases it and never closes it (the registry owns it). */
  borrow: TransportBorrow;
  nixops4: Nixops4Settings;
  lockTtlMs: number;
  logLimitBytes: number;
  onOutcome: (o: ActionOutcome) => void | Promise<void>;
  queueName?: string;
  /** BullMQ timings; defaults are BullMQ's (30 s lock and stall check), tests shorten them. */
  bull?: { lockDuration?: number; stalledInterval?: number; maxStalledCount?: number };
  /** Flake lock: how long a job waits for a busy directory, then how far it steps aside. */
  flakeLockWaitMs?: number;
  flakeLockRetryMs?: number;
  /** remediation.restartTimeout, read at each restart. */
  restartTimeoutMs: () => number;
  /** remediation.rollback.switchTimeout, read at each rollback. */
  rollbackTimeoutMs?: () => number;
  /** Where nixops4's ssh_config and ssh wrapper are written (state.runtimeDir; nixops4/ssh-env.ts). */
  runtimeDir?: string;
}

export interface ActionWorker {
  readonly worker: Worker<ActionJobData>;
  readonly logs: JobLogStore;
  /** Stop taking jobs; give running ones `graceMs`, then terminate them and requeue their jobs. */
  close(graceMs: number): Promise<void>;
}

/**
 * The consumer. Each job runs one action and completes with its outcome — a failed apply is a
 * completed job whose outcome is "failed"; the controller decides what follows. BullMQ retries
 * only what is NixGuard's own trouble: a job whose worker died (stalled; retried once by
 * `maxStalledCount: 1`, a second stall fails it — a job that keeps killing workers must stop)
 * and unexpected errors (`attempts` in the producer's job options).
 */
export async function startWorker(opts: StartWorkerOptions): Promise<ActionWorker> {
  const logger = opts.logger.child({ component: "worker" });
  const blocking = createRedis(opts.connection, { role: "worker", logger });
  const client = createRedis(opts.connection, { role: "client", logger });
  const logs = new JobLogStore(client, opts.prefix, { limitBytes: opts.logLimitBytes });
  const deps: HandlerDeps = {
    logger,
    getDesired: opts.getDesired,
    borrow: opts.borrow,
    nixops4: opts.nixops4,
    logs,
    units: new RestartUnits(client, opts.prefix, opts.queueName ?? ACTION_QUEUE),
    locks: new FlakeLock(client, opts.prefix, {
      ttlMs: opts.lockTtlMs,
      // An apply told to stop gets SIGINT, SIGTERM, then SIGKILL, each after its grace, and its
      // stragglers theirs: gone before the lock is.
      stopBeforeExpiryMs: opts.nixops4.interruptGrace + opts.nixops4.killGrace + opts.nixops4.stragglerGrace,
      logger,
    }),
    lockWaitMs: opts.flakeLockWaitMs ?? 2_000,
    lockRetryMs: opts.flakeLockRetryMs ?? 10_000,
    restartTimeoutMs: opts.restartTimeoutMs,
    ...(opts.rollbackTimeoutMs !== undefined ? { rollbackTimeoutMs: opts.rollbackTimeoutMs } : {}),
    ...(opts.runtimeDir !== undefined && opts.nixops4.ssh
      ? {
          nixops4Env: () =>
            prepareNixops4Ssh(opts.nixops4.ssh ?? {}, opts.runtimeDir ?? "", process.env["PATH"]) ?? {},
        }
      : {}),
  };
  const running = new Map<string, AbortController>();
  const queueName = opts.queueName ?? ACTION_QUEUE;

  /**
   * A job the leader's planning added runs only once committed (producer.ts). Not committed yet
   * while its enqueuer still holds the lease with the job's token: the commit is a round trip
   * away, or the enqueuer is frozen and its lease runs out — so the wait is bounded by the
   * lease. Never committable (the token is stale): refused, as Redis refused its other writes.
   */
  const admitFenced = async (
    id: string,
    fence: NonNullable<ActionJobData["fence"]>,
    signal: AbortSignal | undefined,
  ): Promise<void> => {
    for (;;) {
      const state = await jobFenceState(client, opts.prefix, queueName, id, fence);
      if (state === "committed") return;
      if (state === "stale") {
        opts.metrics.fencedWrites.inc({ by: "worker" });
        logger.warn(
          { jobId: id, code: "FENCED", fencingToken: fence.token },
          "job refused: added under a stale fencing token and never committed",
        );
        throw new UnrecoverableError(`FENCED: added under stale fencing token ${fence.token}`);
      }
      if (signal?.aborted) throw new Error("job aborted while waiting for its commit");
      await new Promise((r) => setTimeout(r, FENCE_POLL_MS));
    }
  };

  const processor = async (job: Job<ActionJobData>, token?: string, bullSignal?: AbortSignal) => {
    const data = job.data;
    const kind = data?.action?.kind;
    if (kind !== "restart" && kind !== "redeploy" && kind !== "rollback") {
      throw new UnrecoverableError(`not a queued action: ${String(kind)} (quarantine is the controller's)`);
    }
    const id = job.id ?? "";
    if (data.fence) await admitFenced(id, data.fence, bullSignal);
    const shutdown = new AbortController();
    running.set(id, shutdown);
    const run: JobRun = {
      job,
      token: token ?? "",
      shutdown: shutdown.signal,
      signal: bullSignal ? AbortSignal.any([shutdown.signal, bullSignal]) : shutdown.signal,
    };
    const startedAt = Date.now();
    logger.info({ jobId: id, key: data.key, attempt: job.attemptsStarted }, "action started");
    let result: HandlerResult;
    try {
      result = await HANDLERS[kind](deps, run);
    } finally {
      running.delete(id);
    }
    const outcome: ActionOutcome = {
      key: data.key,
      jobId: id,
      // job.data: a restart's run may have added units asked for meanwhile (handle-restart.ts).
      action: job.data.action,
      actor: data.actor,
      outcome: result.outcome,
      startedAt,
      finishedAt: Date.now(),
      message: result.message,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.switchedTo !== undefined ? { switchedTo: result.switchedTo } : {}),
    };
    record(opts.metrics, outcome, result);
    logger.info(
      { jobId: id, key: data.key, outcome: outcome.outcome, detail: outcome.message },
      "action finished",
    );
    try {
      await opts.onOutcome(outcome);
    } catch (err) {
      logger.error({ err, jobId: id }, "onOutcome failed");
    }
    return outcome;
  };

  const worker = new Worker<ActionJobData>(queueName, processor, {
    connection: blocking,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    maxStalledCount: 1,
    ...opts.bull,
  });
  worker.on("error", (err) => logger.warn({ err: { message: err.message } }, "worker error"));
  worker.on("stalled", (jobId) => logger.warn({ jobId }, "job stalled (its worker died?); retrying it"));
  worker.on("failed", (job, err) =>
    logger.error({ jobId: job?.id, err: { message: err.message } }, "job failed"),
  );
  await worker.waitUntilReady();

  return {
    worker,
    logs,
    close: async (graceMs: number) => {
      const timer = setTimeout(() => {
        if (running.size)
          logger.warn({ jobs: [...running.keys()] }, "shutdown grace over: terminating running actions");
        for (const c of running.values()) c.abort(new Error("shutdown"));
      }, graceMs);
      try {
        await worker.close();
      } finally {
        clearTimeout(timer);
        blocking.disconnect();
        await client.quit().catch(() => client.disconnect());
      }
    },
  };
}

/** How often a job waits for its enqueuer's commit (a round trip, normally already done). */
const FENCE_POLL_MS = 100;

const HANDLERS = { restart: handleRestart, redeploy: handleRedeploy, rollback: handleRollback } as const;

function record(m: Metrics, o: ActionOutcome, r: HandlerResult): void {
  m.actionsTotal.inc({ deployment: o.action.deployment, action: o.action.kind, outcome: o.outcome });
  if (o.action.kind !== "redeploy" || o.outcome === "cancelled") return;
  m.deployDuration.observe({ deployment: o.action.deployment, outcome: o.outcome }, r.durationMs / 1000);
  if (o.outcome === "success")
    m.lastDeploySuccess.set({ deployment: o.action.deployment }, o.finishedAt / 1000);
}

import { type Job, type JobsOptions, type JobType, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type ActionJobData, type ActionRequest, actionKey, type EnqueueResult } from "../action.js";
import { NixGuardError } from "../errors.js";
import type { Logger } from "../log.js";
import { createRedis } from "../redis/connection.js";
import { commitKey, currentFence, writeOne } from "../redis/fence.js";
import type { RedisTarget } from "../redis/target.js";
import { jobIdFor, jobName } from "./job-id.js";
import { RestartUnits } from "./restart-units.js";
import type { ActionQueue } from "./types.js";

/** The one BullMQ queue of actions. */
export const ACTION_QUEUE = "actions";

/**
 * Job defaults. An action's own failure (apply exit 1, restart failed) completes the job with
 * that outcome — the controller's ladder and backoff decide what comes next, not BullMQ. So
 * `attempts` only covers NixGuard's own trouble (Redis lost mid-job, a bug), and stalls (a dead
 * worker) are retried once by the worker's `maxStalledCount`. Retention is bounded by count
 * and age.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 15_000 },
  removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
  removeOnFail: { count: 1000, age: 30 * 24 * 3600 },
};

/** A commit outlives any wait of its job in the queue (retention of completed jobs is 7 days). */
const COMMIT_TTL_MS = 7 * 24 * 3600 * 1000;

export interface BullActionQueueOptions {
  /** A Redis URL or a Sentinel set. */
  connection: RedisTarget;
  /** BullMQ key prefix (config `redis.prefix`). */
  prefix: string;
  logger: Logger;
  queueName?: string;
  jobOptions?: JobsOptions;
}

/**
 * Producer side, with client-go workqueue semantics made atomic by BullMQ itself: the action
 * key is the job's deduplication id with `keepLastIfActive`, so inside BullMQ's add script
 * - no job of the key exists → a new job is added;
 * - its job waits (or is delayed) → the request coalesces into it;
 * - its job runs → the request is stored as the key's single pending follow-up, which BullMQ's
 *   finish script turns into a waiting job when the running one ends (later requests overwrite
 *   it: at most one rerun). Never two jobs of a key at once, across any number of processes.
 */
const IN_FLIGHT = new Set<string>(["waiting", "active", "delayed", "prioritized"]);

export class BullActionQueue implements ActionQueue {
  readonly queue: Queue<ActionJobData>;
  readonly name: string;
  private readonly redis: Redis;
  private readonly seqKey: string;
  private readonly jobOptions: JobsOptions;
  private readonly units: RestartUnits;
  private readonly prefix: string;

  constructor(opts: BullActionQueueOptions) {
    this.prefix = opts.prefix;
    this.name = opts.queueName ?? ACTION_QUEUE;
    this.redis = createRedis(opts.connection, { role: "queue", logger: opts.logger });
    this.queue = new Queue<ActionJobData>(this.name, { connection: this.redis, prefix: opts.prefix });
    this.queue.on("error", (err) =>
      opts.logger.warn({ err: { message: err.message } }, "action queue error"),
    );
    this.seqKey = `${opts.prefix}:${this.name}:ng:run-seq`;
    this.jobOptions = { ...DEFAULT_JOB_OPTIONS, ...opts.jobOptions };
    this.units = new RestartUnits(this.redis, opts.prefix, this.name);
  }

  private bullKey(suffix: string): string {
    return `${this.queue.opts.prefix}:${this.name}:${suffix}`;
  }

  async enqueue(req: ActionRequest): Promise<EnqueueResult> {
    if (req.action.kind === "quarantine") {
      throw new NixGuardError("USAGE", "quarantine is a controller state, not a queued action");
    }
    if (req.action.kind !== "restart") return this.add(req);
    await this.queue.waitUntilReady();
    // Recorded before the job is added: whichever run of the key starts next takes them (a run
    // that starts between the two restarts them; the follow-up this add then schedules finds
    // them gone and restarts only its own).
    const units = await this.units.add(actionKey(req.action), req.action.units);
    return { ...(await this.add(req)), units };
  }

  private async add(req: ActionRequest): Promise<EnqueueResult> {
    const key = actionKey(req.action);
    // The connection refuses commands while it is not ready (no offline queue): wait for the
    // first connect; later outages fail fast with REDIS errors, as they should.
    await this.queue.waitUntilReady();
    // Under the leader's fence (redis/fence.ts) the sequence number is its first write: a stale
    // leader is refused here, before BullMQ's add.
    const fence = currentFence();
    const run = Number(await writeOne(this.redis, ["HINCRBY", this.seqKey, key, 1]));
    const jobId = jobIdFor(key, run);
    const data: ActionJobData = {
      ...req,
      key,
      requestedAt: Date.now(),
      ...(fence ? { fence: { identity: fence.identity, token: fence.token } } : {}),
    };
    const job = await this.queue.add(jobName(req), data, {
      ...this.jobOptions,
      jobId,
      deduplication: { id: key, keepLastIfActive: true },
    });
    // BullMQ's add is a script of its own, so the check above and the add are two steps, and a
    // leader frozen between them adds after its lease is gone. So the add is committed after it,
    // fenced: the worker runs a fenced job only once it is committed, and refuses it once it no
    // longer can be (worker.ts). A stale add is refused here too, and the caller records nothing.
    if (fence)
      await writeOne(this.redis, [
        "SET",
        commitKey(this.prefix, this.name, jobId),
        String(fence.token),
        "PX",
        COMMIT_TTL_MS,
      ]);
    if (job.id === jobId) return { state: "added", jobId };
    // Deduplicated. If our request became the key's pending follow-up (its job was running), the
    // follow-up carries our id — or already exists as a job when the running one just finished.
    // BullMQ's own keys (dn:<key>, the job hash): package.json pins the exact version this reads,
    // and test/integration/queue/bullmq-internals.test.ts fails when an upgrade moves them.
    // Concurrent requests overwrite the follow-up one after another, so "it carries our id" is
    // not enough: a request deduplicated against a job that is running went into the follow-up.
    const current = job.id ?? jobId;
    const [next, exists, running] = await this.redis
      .multi()
      .hget(this.bullKey(`dn:${key}`), "jid")
      .exists(this.bullKey(jobId))
      .lpos(this.bullKey("active"), current)
      .exec()
      .then((r) => (r ?? []).map(([, v]) => v));
    if (next === jobId || exists === 1 || running !== null) return { state: "rerun-scheduled", jobId };
    return { state: "coalesced", jobId: current };
  }

  /** Jobs in these states, newest first per state (the API's job list). */
  getJobs(types: JobType[], start: number, end: number): Promise<Job<ActionJobData>[]> {
    return this.queue.getJobs(types, start, end);
  }

  getJob(id: string): Promise<Job<ActionJobData> | undefined> {
    return this.queue.getJob(id);
  }

  async isInFlight(key: string): Promise<boolean> {
    // The key's job id and that job's state are two reads: a job that finishes between them
    // hands the key to its follow-up in the same step, so a finished job is only an answer
    // once the key still names it (seen: "not in flight" while the follow-up ran).
    let id = await this.queue.getDeduplicationJobId(key);
    for (let attempt = 0; id && attempt < 5; attempt++) {
      if (IN_FLIGHT.has(await this.queue.getJobState(id))) return true;
      const again = await this.queue.getDeduplicationJobId(key);
      if (again === id) return false;
      id = again;
    }
    return false;
  }

  async counts(): Promise<Record<"waiting" | "active" | "delayed" | "failed", number>> {
    const c = await this.queue.getJobCounts("waiting", "prioritized", "active", "delayed", "failed");
    return {
      waiting: (c["waiting"] ?? 0) + (c["prioritized"] ?? 0),
      active: c["active"] ?? 0,
      delayed: c["delayed"] ?? 0,
      failed: c["failed"] ?? 0,
    };
  }

  async cancelForHost(deployment: string, host: string): Promise<number> {
    let removed = 0;
    await this.queue.waitUntilReady();
    const jobs = await this.queue.getJobs(["waiting", "prioritized", "delayed"]);
    for (const job of jobs) {
      const a = job?.data?.action;
      if (!a || a.deployment !== deployment || !("host" in a) || a.host !== host) continue;
      try {
        await job.remove();
        removed++;
      } catch {
        // Picked up by a worker meanwhile: it will find the host gone and cancel itself.
      }
    }
    // Follow-ups stored behind running jobs of this host must not come back either.
    const keys = [
      actionKey({ kind: "restart", deployment, host, units: [] }),
      actionKey({ kind: "redeploy", deployment, target: "", host }),
      actionKey({ kind: "rollback", deployment, host, to: [] }),
    ];
    removed += await this.redis.del(...keys.map((k) => this.bullKey(`dn:${k}`)));
    await this.units.drop(keys[0]!);
    return removed;
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }
}

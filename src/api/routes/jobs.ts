import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import type { QueueState } from "../../queue/types.js";
import type { RouteOptions } from "../app.js";
import type { ControlPlane, JobInfo, LogLine } from "../control-plane-port.js";
import { TooManyError, toHttpError } from "../http-error.js";
import { arr, int, obj, responses, str, strEnum } from "../schemas/common.js";
import { JOB_STATES, JobSchema, LogLineSchema } from "../schemas/jobs.js";
import { openSse, type SseStream } from "../sse.js";

/**
 * Each follower polls the job's log in Redis until the job ends (a waiting job: indefinitely), so
 * a read token could otherwise open any number of them.
 */
export const MAX_FOLLOWERS = 64;
export const MAX_FOLLOWERS_PER_TOKEN = 8;

const JobIdParams = obj(
  { id: str({ pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$", description: "BullMQ job id" }) },
  ["id"],
);

interface JobRoute {
  Params: { id: string };
}
interface LogRoute extends JobRoute {
  Querystring: { follow: "0" | "1" | "false" | "true" };
}

export async function jobRoutes(app: FastifyInstance, opts: RouteOptions): Promise<void> {
  const { control } = opts;
  // Followers would hold app.close() open until their jobs end; shutdown ends them instead.
  const streams = new Set<SseStream>();
  /** Open follow streams per token name: each polls Redis while it lasts. */
  const followers = new Map<string, number>();
  app.addHook("preClose", async () => {
    for (const s of streams) s.end();
  });

  app.get<{ Querystring: { state?: QueueState; limit: number } }>(
    "/jobs",
    {
      config: { auth: "read" },
      schema: {
        summary: "Action jobs, newest first, optionally in one state",
        querystring: obj({
          state: strEnum(JOB_STATES),
          limit: int({ minimum: 1, maximum: 1000, default: 100 }),
        }),
        response: responses({ 200: arr(JobSchema) }),
      },
    },
    async (req) => control.jobs(req.query),
  );

  app.get<JobRoute>(
    "/jobs/:id",
    {
      config: { auth: "read" },
      schema: { summary: "One job", params: JobIdParams, response: responses({ 200: JobSchema }) },
    },
    async (req) => control.job(req.params.id),
  );

  app.get<LogRoute>(
    "/jobs/:id/log",
    {
      config: { auth: "read" },
      schema: {
        summary:
          "The job's output; with follow=1 a text/event-stream of `line` events and a final `end` event",
        params: JobIdParams,
        querystring: obj({ follow: { ...strEnum(["0", "1", "false", "true"]), default: "0" } }),
        response: responses({
          200: obj({ jobId: str(), state: strEnum(JOB_STATES), lines: arr(LogLineSchema) }, [
            "jobId",
            "state",
            "lines",
          ]),
        }),
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      await control.job(id); // 404 before any stream starts
      if (req.query.follow === "0" || req.query.follow === "false") {
        const lines: LogLine[] = [];
        const aborter = new AbortController();
        for await (const line of control.jobLog(id, { follow: false, signal: aborter.signal }))
          lines.push(line);
        const job = await control.job(id);
        return { jobId: id, state: job.state, lines };
      }
      const who = req.principal?.name ?? "anonymous";
      const mine = followers.get(who) ?? 0;
      if (streams.size >= MAX_FOLLOWERS || mine >= MAX_FOLLOWERS_PER_TOKEN) {
        throw new TooManyError(
          `too many log followers (${mine} of ${MAX_FOLLOWERS_PER_TOKEN} for token "${who}", ${streams.size} of ${MAX_FOLLOWERS} in all): close one or read without follow`,
        );
      }
      const sse = openSse(reply);
      streams.add(sse);
      followers.set(who, mine + 1);
      await followLog(control, id, sse).finally(() => {
        streams.delete(sse);
        const left = (followers.get(who) ?? 1) - 1;
        if (left > 0) followers.set(who, left);
        else followers.delete(who);
      });
      return reply;
    },
  );
}

/**
 * How often a follower whose log has ended asks whether the job has its final state. The worker
 * closes a job's log when its command ends, then re-probes the hosts it touched before the queue
 * records the outcome: seconds in which the job is still `active`.
 */
export const FINAL_STATE_POLL_MS = 250;

const isFinal = (job: JobInfo) => job.state === "completed" || job.state === "failed";

/** The job once it is completed or failed; undefined when `signal` aborts first. */
async function finalState(
  control: ControlPlane,
  id: string,
  signal: AbortSignal,
): Promise<JobInfo | undefined> {
  while (!signal.aborted) {
    const job = await control.job(id);
    if (isFinal(job)) return job;
    await sleep(FINAL_STATE_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return undefined;
}

/**
 * Streams lines as the job produces them, then one `end` event with how the job ended — sent only
 * once the job has its final state, so `end` always carries the outcome (issue 19: it read the
 * state in the gap between the log closing and the queue marking the job, and said `active`).
 */
async function followLog(control: ControlPlane, id: string, sse: SseStream): Promise<void> {
  try {
    for await (const line of control.jobLog(id, { follow: true, signal: sse.signal })) {
      if (sse.signal.aborted) break;
      await sse.send("line", line);
    }
    const job = await finalState(control, id, sse.signal);
    if (job) {
      await sse.send("end", {
        state: job.state,
        outcome: job.outcome,
        message: job.message,
        exitCode: job.exitCode,
      });
    }
  } catch (err) {
    const { code, message } = toHttpError(err);
    await sse.send("error", { code, message });
  } finally {
    sse.end();
  }
}

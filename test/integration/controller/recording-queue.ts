import { type ActionRequest, actionKey, type EnqueueResult } from "../../../src/action.js";
import type { ActionQueue } from "../../../src/queue/types.js";

/**
 * An ActionQueue that records requests instead of running them, with the real queue's key
 * semantics: a key waiting coalesces, a key running gets one rerun. Tests finish jobs by hand.
 */
export class RecordingQueue implements ActionQueue {
  readonly requests: ActionRequest[] = [];
  /** `rerun`: the id of the request stored to run after the active job, as BullMQ keeps it. */
  readonly jobs = new Map<string, { jobId: string; state: "waiting" | "active"; rerun?: string }>();
  private seq = 0;

  async enqueue(req: ActionRequest): Promise<EnqueueResult> {
    this.requests.push(req);
    const key = actionKey(req.action);
    const job = this.jobs.get(key);
    if (job?.state === "waiting") return { state: "coalesced", jobId: job.jobId };
    const jobId = `${key}-${++this.seq}`;
    if (job?.state === "active") {
      job.rerun = jobId;
      return { state: "rerun-scheduled", jobId };
    }
    this.jobs.set(key, { jobId, state: "waiting" });
    return { state: "added", jobId };
  }

  start(key: string): void {
    const job = this.jobs.get(key);
    if (job) job.state = "active";
  }

  /** The job ended; returns its id. A rerun asked for meanwhile becomes the key's waiting job. */
  finish(key: string): string {
    const job = this.jobs.get(key);
    if (!job) throw new Error(`no job for ${key}`);
    if (job.rerun) this.jobs.set(key, { jobId: job.rerun, state: "waiting" });
    else this.jobs.delete(key);
    return job.jobId;
  }

  async isInFlight(key: string): Promise<boolean> {
    return this.jobs.has(key);
  }

  async counts() {
    const all = [...this.jobs.values()];
    return {
      waiting: all.filter((j) => j.state === "waiting").length,
      active: all.filter((j) => j.state === "active").length,
      delayed: 0,
      failed: 0,
    };
  }

  async cancelForHost(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

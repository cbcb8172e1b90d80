import type { ActionRequest } from "../action.js";

/**
 * Job ids derive from the action key: `<actionKey>..<run>` (`redeploy__fediversity..17`).
 * The key is the BullMQ deduplication id, which is what makes one key one job; the run number
 * keeps every run's id distinct, so a finished job kept for the record never blocks the next
 * run of its key (BullMQ ignores an add whose custom id still exists). ".." cannot occur in a
 * name (grammar.ts) and run numbers have no '.', so the last ".." splits the id unambiguously;
 * no ':' (BullMQ refuses it) and only characters the API's job-id pattern accepts.
 */
export const RUN_SEPARATOR = "..";

export function jobIdFor(key: string, run: number): string {
  return `${key}${RUN_SEPARATOR}${run}`;
}

/** The action key of a job id, or undefined when the id was not made by jobIdFor. */
export function keyOfJobId(jobId: string): string | undefined {
  const at = jobId.lastIndexOf(RUN_SEPARATOR);
  if (at <= 0 || !/^\d+$/.test(jobId.slice(at + RUN_SEPARATOR.length))) return undefined;
  return jobId.slice(0, at);
}

/** The BullMQ job name: the action kind, so dashboards group by it. */
export const jobName = (req: ActionRequest) => req.action.kind;

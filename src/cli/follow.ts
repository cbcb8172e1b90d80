import type { JobInfo, LogLine } from "../api/control-plane-port.js";
import { EXIT, ExitError, NixGuardError } from "../errors.js";
import type { ApiClient } from "./client.js";
import type { ClientIo } from "./io.js";

/** How a followed job ended, as an exit code (documented in docs/api.md). */
export function exitCodeOfJob(end: Partial<JobInfo> | undefined): number {
  if (end?.state === "completed" && (end.outcome === undefined || end.outcome === "success")) return EXIT.OK;
  if (end?.outcome === "cancelled") return EXIT.JOB_CANCELLED;
  if (end?.outcome === "timeout") return EXIT.JOB_TIMEOUT;
  if (end === undefined) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

/** Prints one log line: nixops4's stdout to stdout, its stderr and NixGuard's own lines to stderr, with the time they were printed in wide output. */
export function printLine(io: ClientIo, line: LogLine, wide: boolean): void {
  const stamp = wide ? `${new Date(line.time).toISOString()} ` : "";
  (line.stream === "stdout" ? io.stdout : io.stderr)(`${stamp}${line.text}\n`);
}

/** Streams one job's log until the job has its final state; returns the `end` event's data. */
export async function followJob(
  api: ApiClient,
  id: string,
  io: ClientIo,
  wide = false,
): Promise<Partial<JobInfo> | undefined> {
  let end: Partial<JobInfo> | undefined;
  for await (const ev of api.events(`/api/v1/jobs/${encodeURIComponent(id)}/log?follow=1`)) {
    if (ev.event === "line") printLine(io, JSON.parse(ev.data) as LogLine, wide);
    else if (ev.event === "end") end = JSON.parse(ev.data) as Partial<JobInfo>;
    else if (ev.event === "error")
      throw new NixGuardError("API_ERROR", `job ${id}: ${JSON.parse(ev.data).message}`);
  }
  return end;
}

/**
 * Follows each job in turn and exits with the worst outcome: 0 when all succeeded, else the
 * first unsuccessful job's code (1 failed, 3 cancelled, 4 timed out, 69 the stream broke off).
 */
export async function followJobs(
  api: ApiClient,
  jobIds: string[],
  io: ClientIo,
  wide = false,
): Promise<void> {
  let worst: { id: string; code: number } | undefined;
  for (const id of jobIds) {
    const end = await followJob(api, id, io, wide);
    io.stderr(
      `job ${id}: ${end?.state ?? "stream ended before the job"}${end?.outcome ? ` (${end.outcome})` : ""}\n`,
    );
    const code = exitCodeOfJob(end);
    if (code !== EXIT.OK && worst === undefined) worst = { id, code };
  }
  if (worst) throw new ExitError("JOB_UNSUCCESSFUL", worst.code, `job ${worst.id} did not succeed`);
}

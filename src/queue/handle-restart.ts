import { WaitingError } from "bullmq";
import type { ActionOutcomeKind } from "../action.js";
import { unitName } from "../config/grammar.js";
import { isNixGuardError } from "../errors.js";
import type { HandlerDeps, HandlerResult, JobRun } from "./job-context.js";
import { stamp } from "./job-context.js";

/** Pure: a transport error as an outcome. */
export function restartErrorOutcome(err: unknown): ActionOutcomeKind {
  const code = isNixGuardError(err) ? err.code : undefined;
  switch (code) {
    case "COMMAND_NOT_FOUND":
      return "not-found";
    case "COMMAND_TIMEOUT":
    case "PROBE_TIMEOUT":
      return "timeout";
    case "PROBE_UNREACHABLE":
    case "HOST_KEY_MISMATCH":
      return "unreachable";
    default:
      return "failed";
  }
}

/** restart: `systemctl restart UNIT…` over the host's transport. */
export async function handleRestart(deps: HandlerDeps, run: JobRun): Promise<HandlerResult> {
  const { job } = run;
  const action = job.data.action;
  if (action.kind !== "restart") throw new Error("handleRestart: not a restart job");
  const host = deps
    .getDesired()
    .deployments.find((d) => d.name === action.deployment)
    ?.hosts.find((h) => h.name === action.host);
  if (!host)
    return {
      outcome: "cancelled",
      message: `host ${action.deployment}/${action.host} is no longer configured`,
      durationMs: 0,
    };
  const bad = action.units.map(unitName).find(Boolean);
  if (bad || action.units.length === 0) {
    return { outcome: "failed", message: `refusing restart: ${bad ?? "no units given"}`, durationMs: 0 };
  }
  const started = Date.now();
  const lease = deps.borrow(host);
  const { transport } = lease;
  if (!transport.canRestart) {
    lease.release();
    return {
      outcome: "failed",
      message: `refusing restart: the ${transport.kind} transport of ${host.name} cannot restart units`,
      durationMs: 0,
    };
  }
  const log = (line: string) =>
    deps.logs.append(job.id ?? "?", `[nixguard] ${stamp()} ${line}\n`).catch(() => undefined);
  await log(`attempt ${job.attemptsStarted}: systemctl restart ${action.units.join(" ")} on ${host.name}`);
  try {
    await transport.restart(action.units, run.signal);
    await log("outcome success");
    await deps.logs.close(job.id ?? "?").catch(() => undefined);
    return {
      outcome: "success",
      message: `restarted ${action.units.join(", ")}`,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    if (run.shutdown.aborted) {
      await log("restart interrupted by shutdown; the job goes back to the queue");
      await job.moveToWait(run.token);
      throw new WaitingError();
    }
    const outcome = run.signal.aborted ? "cancelled" : restartErrorOutcome(err);
    const message =
      `systemctl restart on ${host.name} ${outcome}: ${(err as Error)?.message ?? String(err)}`.slice(0, 500);
    await log(`outcome ${outcome}: ${message}`);
    await deps.logs.close(job.id ?? "?").catch(() => undefined);
    const exitCode =
      isNixGuardError(err) && "exitCode" in err ? (err.exitCode as number | undefined) : undefined;
    return {
      outcome,
      message,
      durationMs: Date.now() - started,
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
  } finally {
    // Released, never closed: the probe scheduler reaches the host through the same transport.
    lease.release();
  }
}

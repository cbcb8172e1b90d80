import { WaitingError } from "bullmq";
import type { ActionOutcomeKind } from "../action.js";
import { formatDuration } from "../config/duration.js";
import { unitName } from "../config/grammar.js";
import { isNixGuardError, NixGuardError } from "../errors.js";
import type { Transport } from "../probes/types.js";
import type { HandlerDeps, HandlerResult, JobRun } from "./job-context.js";
import { configuredHost } from "./job-context.js";
import { formatRecord } from "./log-record.js";
import { restartInterruption, unsettledOutcome } from "./settle.js";
import { settleByProbe } from "./settle-probe.js";

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
  const host = configuredHost(deps, action);
  if ("outcome" in host) return host;
  // Every unit asked for since the last run started, not only this job's request (restart-units.ts).
  const units = await deps.units.take(job.data.key, action.units).catch(() => action.units);
  const bad = units.map(unitName).find(Boolean);
  if (bad || units.length === 0) {
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
    deps.logs
      .append(job.id ?? "?", formatRecord(Date.now(), "nixguard", `[nixguard] ${line}`))
      .catch(() => undefined);
  if (units.length !== action.units.length)
    // The job's record shows what it restarts (the API's job view, the outcome's action).
    await job.updateData({ ...job.data, action: { ...action, units } }).catch(() => undefined);
  await log(`attempt ${job.attemptsStarted}: systemctl restart ${units.join(" ")} on ${host.name}`);
  const deadline = restartDeadline(deps.restartTimeoutMs(), host.name);
  try {
    await transport.restart(units, AbortSignal.any([run.signal, deadline.signal]));
    await log("outcome success");
    await deps.logs.close(job.id ?? "?").catch(() => undefined);
    return {
      outcome: "success",
      message: `restarted ${units.join(", ")}`,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    const requeue = async () => {
      await log("restart interrupted by shutdown; the job goes back to the queue");
      await job.moveToWait(run.token);
      throw new WaitingError();
    };
    if (run.shutdown.aborted) return await requeue();
    const interrupted = deadline.signal.aborted || run.signal.aborted ? undefined : restartInterruption(err);
    if (interrupted) {
      const r = await settleAfterInterruption(transport, units, interrupted, deadline.signal, run, log);
      if (run.shutdown.aborted) return await requeue();
      const message = `systemctl restart on ${host.name} interrupted: ${interrupted}; ${r.message}`.slice(
        0,
        500,
      );
      await log(`outcome ${r.outcome}: ${message}`);
      await deps.logs.close(job.id ?? "?").catch(() => undefined);
      return { outcome: r.outcome, message, durationMs: Date.now() - started };
    }
    // The deadline first: a restart ended by it is `timeout` whatever error the kill produced.
    const outcome = deadline.signal.aborted
      ? "timeout"
      : run.signal.aborted
        ? "cancelled"
        : restartErrorOutcome(err);
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
    deadline.clear();
    // Released, never closed: the probe scheduler reaches the host through the same transport.
    lease.release();
  }
}

/**
 * remediation.restartTimeout: `systemctl restart` waits for the stop and start jobs, and a unit
 * whose stop hangs (TimeoutStopSec=infinity) makes it wait for ever, holding a worker slot and
 * the job's lock. On expiry the abort ends the ssh client's process group: with ssh.session
 * persistent, the session the restart ran on (the next request opens a new one); per-probe, the
 * client's channel on the shared ControlMaster, which is not touched. Either way systemd's
 * restart job on the host carries on (the next probe says how the unit is).
 */
function restartDeadline(ms: number, host: string): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new NixGuardError(
          "COMMAND_TIMEOUT",
          `systemctl restart on ${host} did not finish within ${formatDuration(ms)} (remediation.restartTimeout)`,
        ),
      ),
    ms,
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** Between the probes that decide an interrupted restart: a host coming back answers within seconds. */
const SETTLE_PAUSE_MS = 1_000;

/**
 * An interrupted restart (settle.ts): the host is probed until it answers with the units settled,
 * within what remediation.restartTimeout leaves. Unreachable meanwhile is that moment's state,
 * not the outcome; the outcome is the units' state once the host answers again.
 */
async function settleAfterInterruption(
  transport: Transport,
  units: readonly string[],
  why: string,
  deadline: AbortSignal,
  run: JobRun,
  log: (line: string) => Promise<unknown>,
): Promise<{ outcome: ActionOutcomeKind; message: string }> {
  await log(`${why}: the next probes decide the outcome (within remediation.restartTimeout)`);
  let said = "";
  const settled = await settleByProbe({
    fetch: (u, signal) => transport.fetch(u, signal),
    units,
    signal: AbortSignal.any([run.signal, deadline]),
    pauseMs: SETTLE_PAUSE_MS,
    onStep: (v) => {
      const line = "wait" in v ? `probe: ${v.wait}` : `probe: ${v.note}`;
      if (line !== said) void log(line);
      said = line;
    },
  });
  if (settled && "outcome" in settled) return { outcome: settled.outcome, message: `then ${settled.note}` };
  if (run.signal.aborted) return { outcome: "cancelled", message: "cancelled while waiting for the host" };
  const last = settled && "wait" in settled ? settled.wait : "no probe finished";
  return {
    outcome: unsettledOutcome(settled),
    message: `not settled within remediation.restartTimeout (last: ${last})`,
  };
}

import { randomBytes } from "node:crypto";
import { WaitingError } from "bullmq";
import type { Action } from "../action.js";
import { generationNumber, storePath } from "../config/grammar.js";
import { isNixGuardError } from "../errors.js";
import type { GenerationListing } from "../probes/systemd/generations.js";
import { SWITCH_GONE_EXIT } from "../probes/systemd/generations.js";
import { restartErrorOutcome } from "./handle-restart.js";
import type { HandlerDeps, HandlerResult, JobRun } from "./job-context.js";
import { configuredHost } from "./job-context.js";
import { formatRecord } from "./log-record.js";
import { settleInterruptedSwitch } from "./settle-rollback.js";

type Rollback = Extract<Action, { kind: "rollback" }>;

/**
 * Pure: the first wanted generation still on the host. `to` is newest known-good first; a
 * generation number (manual `--to N`) must be a profile link that still exists.
 */
export function pickTarget(a: Rollback, listing: GenerationListing): { path: string } | { refused: string } {
  if (a.toGeneration !== undefined) {
    const g = listing.generations.find((x) => x.number === a.toGeneration);
    return g ? { path: g.path } : { refused: `generation ${a.toGeneration} is no longer on the host` };
  }
  const present = new Set(listing.generations.map((g) => g.path));
  const path = a.to.find((p) => present.has(p));
  if (path) return { path };
  return {
    refused:
      a.to.length === 1
        ? `${a.to[0]} is no longer on the host (garbage-collected?)`
        : `none of the ${a.to.length} known-good generations is still on the host (garbage-collected?)`,
  };
}

/** Every value of the job re-checked: it came through Redis. */
function unsafe(a: Rollback): string | undefined {
  for (const p of [...a.to, ...(a.from !== undefined ? [a.from] : [])]) {
    const problem = storePath(p);
    if (problem) return `${JSON.stringify(p)}: ${problem}`;
  }
  if (a.toGeneration !== undefined) return generationNumber(a.toGeneration);
  return a.to.length === 0 ? "no generation to roll back to" : undefined;
}

/**
 * rollback: list the host's generations, pick the newest wanted one still there, set the system
 * profile to it and switch in a transient unit — over the host's own transport. A generation the
 * host no longer has is refused (`not-found`): the controller quarantines the host.
 */
export async function handleRollback(deps: HandlerDeps, run: JobRun): Promise<HandlerResult> {
  const { job } = run;
  const action = job.data.action;
  if (action.kind !== "rollback") throw new Error("handleRollback: not a rollback job");
  const host = configuredHost(deps, action);
  if ("outcome" in host) return host;
  const bad = unsafe(action);
  if (bad) return { outcome: "failed", message: `refusing rollback: ${bad}`, durationMs: 0 };
  const started = Date.now();
  const lease = deps.borrow(host);
  const { transport } = lease;
  const log = (line: string) =>
    deps.logs
      .append(job.id ?? "?", formatRecord(Date.now(), "nixguard", `[nixguard] ${line}`))
      .catch(() => undefined);
  const done = async (r: HandlerResult): Promise<HandlerResult> => {
    await log(`outcome ${r.outcome}: ${r.message}`);
    await deps.logs.close(job.id ?? "?").catch(() => undefined);
    return r;
  };
  // Set once the switch starts: a broken connection from then on is decided by the next probes.
  let switching: { target: string; unit: string; limit: AbortSignal } | undefined;
  try {
    if (!transport.generations || !transport.switchSystem)
      return await done({
        outcome: "failed",
        message: `the ${transport.kind} transport of ${host.name} cannot switch generations`,
        durationMs: 0,
      });
    await log(
      `attempt ${job.attemptsStarted}: roll ${host.name} back (${job.data.actor}: ${job.data.reason})`,
    );
    const listing = await transport.generations(run.signal);
    const target = pickTarget(action, listing);
    if ("refused" in target)
      return await done({ outcome: "not-found", message: target.refused, durationMs: Date.now() - started });
    const unit = `nixguard-rollback-${randomBytes(6).toString("hex")}.service`;
    await log(`switching ${host.name} to ${target.path} in ${unit}`);
    const limit = AbortSignal.timeout(deps.rollbackTimeoutMs?.() ?? 600_000);
    switching = { target: target.path, unit, limit };
    await transport.switchSystem(target.path, unit, AbortSignal.any([run.signal, limit]));
    return await done({
      outcome: "success",
      message: `switched ${host.name} to ${target.path}`,
      durationMs: Date.now() - started,
      switchedTo: target.path,
    });
  } catch (err) {
    if (switching && !run.signal.aborted) {
      const settled = await settleInterruptedSwitch({
        err,
        transport,
        units: host.units.filter((u) => !u.conditional).map((u) => u.unit),
        switchUnit: switching.unit,
        target: switching.target,
        signal: AbortSignal.any([run.signal, switching.limit]),
        log: (line) => log(line),
      });
      if (settled && !run.shutdown.aborted)
        return await done({
          outcome: run.signal.aborted ? "cancelled" : settled.outcome,
          message: `rollback of ${host.name} to ${switching.target}: ${settled.message}`.slice(0, 500),
          durationMs: Date.now() - started,
          ...(settled.outcome === "success" ? { switchedTo: switching.target } : {}),
        });
    }
    if (run.shutdown.aborted) {
      // The switch runs in its own unit on the host and finishes without us; the job comes back
      // and finds the host on (or switching to) the target.
      await log("rollback interrupted by shutdown; the job goes back to the queue");
      await job.moveToWait(run.token);
      throw new WaitingError();
    }
    const exitCode =
      isNixGuardError(err) && "exitCode" in err ? (err.exitCode as number | undefined) : undefined;
    // not-found means "the generation is gone" here (the controller quarantines on it): a missing
    // ssh binary is NixGuard's own trouble, a plain failure.
    const transportOutcome = restartErrorOutcome(err);
    const outcome = run.signal.aborted
      ? "cancelled"
      : exitCode === SWITCH_GONE_EXIT
        ? "not-found"
        : transportOutcome === "not-found"
          ? "failed"
          : transportOutcome;
    return await done({
      outcome,
      message: `rollback of ${host.name} ${outcome}: ${(err as Error)?.message ?? String(err)}`.slice(0, 500),
      durationMs: Date.now() - started,
      ...(exitCode !== undefined ? { exitCode } : {}),
    });
  } finally {
    // Released, never closed: the probe scheduler reaches the host through the same transport.
    lease.release();
  }
}

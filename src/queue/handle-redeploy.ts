import { DelayedError, WaitingError } from "bullmq";
import { absolutePath } from "../config/grammar.js";
import { describeTarget } from "../nixops4/argv.js";
import { ApplyOutput } from "./apply-output.js";
import type { HandlerDeps, HandlerResult, JobRun } from "./job-context.js";
import { JobLogWriter } from "./job-log.js";
import { runApply } from "./nixops4.js";
import { settleInterruptedApply } from "./settle-apply.js";

/**
 * redeploy: `nixops4 apply` of the action's target in its deployment's flake directory, under
 * the directory's lock. Targets and directories come from the current desired state, never from
 * the job alone: a job queued before a config change cannot apply what is no longer configured.
 */
export async function handleRedeploy(deps: HandlerDeps, run: JobRun): Promise<HandlerResult> {
  const { job, token } = run;
  const action = job.data.action;
  if (action.kind !== "redeploy") throw new Error("handleRedeploy: not a redeploy job");
  const dep = deps.getDesired().deployments.find((d) => d.name === action.deployment);
  if (!dep)
    return {
      outcome: "cancelled",
      message: `deployment ${action.deployment} is no longer configured`,
      durationMs: 0,
    };
  const targets = new Set([dep.target, ...dep.hosts.map((h) => h.target)]);
  if (!targets.has(action.target)) {
    return {
      outcome: "cancelled",
      message: `target ${action.target} is no longer configured for ${dep.name}`,
      durationMs: 0,
    };
  }
  const badFlake = absolutePath(dep.flake);
  if (badFlake) return { outcome: "failed", message: `refusing flake directory: ${badFlake}`, durationMs: 0 };
  // nixops4's own ssh (identity, known_hosts): its files are written before the apply runs.
  let extraEnv: Record<string, string> | undefined;
  try {
    extraEnv = deps.nixops4Env?.();
  } catch (e) {
    return { outcome: "failed", message: `nixops4's ssh: ${(e as Error).message}`, durationMs: 0 };
  }

  const lease = await deps.locks.acquire(dep.flake, job.id ?? "?", deps.lockWaitMs, run.signal);
  if (!lease) {
    if (run.shutdown.aborted) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    // Another apply runs in this directory (maybe on another machine). Step aside instead of
    // holding a worker slot: BullMQ brings the job back after the delay, and requests for this
    // key keep coalescing into it meanwhile.
    const holder = await deps.locks.holder(dep.flake);
    deps.logger.info({ jobId: job.id, holder }, "flake directory busy; job delayed");
    await job.moveToDelayed(Date.now() + deps.lockRetryMs * (0.75 + Math.random() * 0.5), token);
    throw new DelayedError();
  }

  const writer = new JobLogWriter(deps.logs, job.id ?? "?", (err) =>
    deps.logger.warn({ err, jobId: job.id }, "job log write failed"),
  );
  let progress: Promise<unknown> = Promise.resolve();
  const output = new ApplyOutput(writer, (p) => {
    progress = progress.then(() => job.updateProgress({ ...p })).catch(() => undefined);
  });
  output.note(
    `[nixguard] attempt ${job.attemptsStarted}: nixops4 apply ${describeTarget(action.target)} in ${dep.flake} (${job.data.actor}: ${job.data.reason})`,
  );
  let result: Awaited<ReturnType<typeof runApply>>;
  try {
    result = await runApply({
      settings: deps.nixops4,
      flakeDir: dep.flake,
      target: action.target,
      signal: AbortSignal.any([run.signal, lease.lost]),
      onStdout: output.stdout,
      onStderr: output.stderr,
      ...(extraEnv ? { extraEnv } : {}),
    });
  } finally {
    await lease.release().catch((err) => deps.logger.warn({ err }, "flake lock release failed"));
  }
  output.end();
  await progress;
  if (result.outcome === "cancelled" && run.shutdown.aborted) {
    output.note("[nixguard] apply terminated by shutdown; the job goes back to the queue");
    await writer.end(false);
    await job.moveToWait(token);
    throw new WaitingError();
  }
  if (result.outcome === "cancelled" && lease.lost.aborted) {
    // Not "cancelled" (an apply that never ran): it ran and was cut off, maybe with hosts
    // half-switched, so the controller must treat it as a failed apply (backoff, drift check).
    result = {
      ...result,
      outcome: "failed",
      message: "nixops4 apply stopped: the flake directory lock was lost",
    };
  }
  // A machine's ssh session that broke is not the apply's failure: the next probes decide.
  const settled = await settleInterruptedApply({
    deps,
    dep,
    host: action.host,
    failure: result,
    signal: run.signal,
    deadlineMs: deps.nixops4.timeout - result.durationMs,
    log: (line) => output.note(line),
  });
  if (settled) {
    const { exitCode, ...rest } = result;
    // nixops4's exit status stays with the outcome it explains, not with one a probe decided.
    result = {
      ...rest,
      ...settled,
      ...(settled.outcome === "failed" && exitCode !== undefined ? { exitCode } : {}),
    };
  }
  output.note(`[nixguard] outcome ${result.outcome}: ${result.message}`);
  await writer.end(true);
  return {
    outcome: result.outcome,
    message: result.message,
    durationMs: result.durationMs,
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
  };
}

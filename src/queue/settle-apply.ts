import type { ActionOutcomeKind } from "../action.js";
import type { DeploymentSpec } from "../config/desired.js";
import type { HandlerDeps } from "./job-context.js";
import { applyInterruption, SWITCH_UNIT, unsettledOutcome } from "./settle.js";
import { settleByProbe } from "./settle-probe.js";

const SETTLE_PAUSE_MS = 1_000;

/**
 * A failed apply whose machine ssh session broke (settle.ts): the switch runs on in its
 * transient unit, so the apply's outcome is decided by probing the hosts it covers until each
 * answers with that unit gone and its units settled — within what nixops4.timeout leaves.
 * Every host up → success; one down → failed; not settled in time → the apply's own outcome.
 * Undefined when the failure was not an interruption: the apply's outcome stands.
 */
export async function settleInterruptedApply(opts: {
  deps: HandlerDeps;
  dep: DeploymentSpec;
  host: string | undefined;
  failure: { outcome: ActionOutcomeKind; message: string; stderrTail: string };
  signal: AbortSignal;
  deadlineMs: number;
  log: (line: string) => void;
}): Promise<{ outcome: ActionOutcomeKind; message: string } | undefined> {
  const { deps, dep, failure } = opts;
  if (failure.outcome !== "failed") return undefined;
  const why = applyInterruption(failure.message, failure.stderrTail);
  if (!why) return undefined;
  const hosts = opts.host === undefined ? dep.hosts : dep.hosts.filter((h) => h.name === opts.host);
  if (hosts.length === 0) return undefined;
  opts.log(`[nixguard] ${why}: the next probes of ${hosts.map((h) => h.name).join(", ")} decide the outcome`);
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(Math.max(0, opts.deadlineMs))]);
  const verdicts = await Promise.all(
    hosts.map(async (h) => {
      const lease = deps.borrow(h);
      try {
        const units = h.units.filter((u) => !u.conditional).map((u) => u.unit);
        const v = await settleByProbe({
          fetch: (u, s) => lease.transport.fetch(u, s),
          units,
          busy: [SWITCH_UNIT],
          signal,
          pauseMs: SETTLE_PAUSE_MS,
        });
        return { host: h.name, v };
      } finally {
        lease.release();
      }
    }),
  );
  const notes = verdicts.map(
    ({ host, v }) => `${host}: ${v === undefined ? "no answer" : "wait" in v ? v.wait : v.note}`,
  );
  const failedHost = verdicts.find(({ v }) => v && "outcome" in v && v.outcome === "failed");
  const open = verdicts.find(({ v }) => !v || "wait" in v);
  const outcome: ActionOutcomeKind = failedHost
    ? "failed"
    : open
      ? !opts.signal.aborted && unsettledOutcome(open.v) === "unreachable"
        ? "unreachable"
        : failure.outcome
      : "success";
  const message = `${failure.message}; ${why}, then ${open && !failedHost ? "not settled in time: " : ""}${notes.join("; ")}`;
  return { outcome, message: message.slice(0, 1000) };
}

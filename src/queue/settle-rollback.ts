import type { ActionOutcomeKind } from "../action.js";
import type { HostFacts, Transport } from "../probes/types.js";
import { restartInterruption, type Settled, unsettledOutcome } from "./settle.js";
import { settleByProbe } from "./settle-probe.js";

const SETTLE_PAUSE_MS = 1_000;

/**
 * Pure: a settled observation after a rollback's switch was cut off, judged for the switch as
 * well as the units: the host must be running the target system, or the switch did not happen
 * (the profile was set, the switch never ran) whatever the units say.
 */
export function switchVerdict(v: Settled, facts: HostFacts | undefined, target: string): Settled {
  if (!("outcome" in v) || v.outcome === "failed") return v;
  const running = facts?.currentSystem;
  if (running === undefined) return { wait: "current system not reported" };
  if (running !== target) return { outcome: "failed", note: `the host runs ${running}, not ${target}` };
  return { outcome: "success", note: `on ${target}; ${v.note}` };
}

/**
 * A rollback whose switch lost its connection (the host's sshd went away, the host rebooted):
 * the switch runs on in its transient unit, so the next probes decide — wait while that unit is
 * active, then the host's units and its current system. Undefined when the error was not an
 * interruption: the error decides, as before.
 */
export async function settleInterruptedSwitch(opts: {
  err: unknown;
  transport: Transport;
  units: readonly string[];
  switchUnit: string;
  target: string;
  signal: AbortSignal;
  log: (line: string) => unknown;
  pauseMs?: number;
}): Promise<{ outcome: ActionOutcomeKind; message: string } | undefined> {
  if (opts.signal.aborted) return undefined;
  const why = restartInterruption(opts.err);
  if (!why) return undefined;
  opts.log(`${why}: the next probes decide the rollback's outcome`);
  let facts: HostFacts | undefined;
  let said = "";
  const settled = await settleByProbe({
    fetch: async (u, s) => {
      facts = undefined;
      facts = await opts.transport.fetch(u, s);
      return facts;
    },
    units: opts.units,
    busy: [opts.switchUnit],
    signal: opts.signal,
    pauseMs: opts.pauseMs ?? SETTLE_PAUSE_MS,
    judge: (v) => switchVerdict(v, facts, opts.target),
    onStep: (v) => {
      const line = `probe: ${"wait" in v ? v.wait : v.note}`;
      if (line !== said) opts.log(line);
      said = line;
    },
  });
  if (settled && "outcome" in settled)
    return { outcome: settled.outcome, message: `${why}, then ${settled.note}` };
  const last = settled && "wait" in settled ? settled.wait : "no probe finished";
  return { outcome: unsettledOutcome(settled), message: `${why}; not settled in time (last: ${last})` };
}

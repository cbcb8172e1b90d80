import { setTimeout as sleep } from "node:timers/promises";
import type { HostFacts } from "../probes/types.js";
import { type Settled, settleVerdict } from "./settle.js";

/**
 * Probes a host again and again after an interruption (settle.ts) until one observation decides
 * the action's outcome or `signal` (its deadline, a cancel) ends the wait. A probe that fails is
 * "unreachable for that moment", never an outcome. Resolves to the deciding verdict, or the last
 * one (a wait) when the signal ended it; undefined when no probe finished at all.
 */
export async function settleByProbe(opts: {
  fetch: (units: readonly string[], signal: AbortSignal) => Promise<HostFacts>;
  units: readonly string[];
  busy?: readonly string[];
  signal: AbortSignal;
  pauseMs: number;
  onStep?: (v: Settled) => void;
  /** A further judgement of each verdict (a switch also needs the right system). */
  judge?: (v: Settled) => Settled;
}): Promise<Settled | undefined> {
  const { units, busy = [], signal } = opts;
  let last: Settled | undefined;
  while (!signal.aborted) {
    const facts = await opts.fetch([...units, ...busy], signal).catch(() => undefined);
    if (signal.aborted) break;
    const plain = settleVerdict(units, facts, busy);
    const v = opts.judge ? opts.judge(plain) : plain;
    opts.onStep?.(v);
    last = v;
    if ("outcome" in v) return v;
    await sleep(opts.pauseMs, undefined, { signal }).catch(() => undefined);
  }
  return last;
}

import { setFlagsFromString } from "node:v8";
import { UsageError } from "../errors.js";

/**
 * How far V8 lets the old generation grow past what the last full GC left alive, in percent.
 *
 * NixGuard replaces every host's judged state on every probe, so the old generation fills with
 * garbage at a steady rate. Left to itself, V8 (whose heap limit on a large machine is 4 GB) lets
 * it grow to two to four times the live set before collecting: at 10,000 hosts that was ~840 MB of
 * RSS for ~200 MB alive. A fixed growth factor bounds RSS relative to the fleet (≈ live × (1 + p))
 * without a heap ceiling that a larger fleet would crash into; the price is more frequent full
 * GCs. Measured figures are in docs/benchmarks.md.
 *
 * The flag is read by V8 at every full GC, so setting it at start-up takes effect (NODE_OPTIONS
 * refuses it, hence not there). 0 leaves V8's own heuristics.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 100;

export function parseHeapGrowth(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 1000) {
    throw new UsageError(`--heap-growth takes a whole percentage 0..1000 (0: V8's default; got "${text}")`);
  }
  return n;
}

export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

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

/**
 * Also, with a growth percentage set (anything but 0, which leaves V8 entirely to itself): no
 * allocation-site pretenuring. V8 allocates straight into the old generation from any site whose
 * objects often survived a minor GC; a probe's objects live milliseconds, but in the bursts of a
 * probe cycle enough of them are caught in flight that whole sites (sockets, request handlers,
 * response bodies) were pretenured, and from then on every probe's garbage filled the old
 * generation. Measured at 10,000 hosts: promoted 11.3 → 8.2 MB/s, RSS peak 372 → 340 MB, heap used
 * flat instead of swinging 130–200 MB, CPU unchanged (docs/benchmarks.md).
 */
export function applyHeapGrowth(percent: number): void {
  if (percent === 0) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  setFlagsFromString("--no-allocation-site-pretenuring");
}

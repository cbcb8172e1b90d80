/**
 * Heap tuning: node's command line, never at run time. Node documents V8 flags changed after the
 * VM has started (v8.setFlagsFromString) as undefined behaviour, so NixGuard sets none itself:
 * in-process it runs with V8's own heuristics. The package's wrapper, the NixOS module and the
 * Dockerfile start it as `node ${HEAP_NODE_FLAGS.join(" ")} …/main.js` (NODE_OPTIONS refuses
 * these flags, hence argv).
 *
 * Why these two. NixGuard replaces every host's judged state on every probe, so the old generation
 * fills with garbage at a steady rate. Left to itself, V8 (whose heap limit on a large machine is
 * 4 GB) lets it grow to two to four times the live set before collecting: at 10,000 hosts that
 * was ~840 MB of RSS for ~200 MB alive. `--heap-growing-percent=100` bounds RSS relative to the
 * fleet (≈ 2 × live) without a heap ceiling that a larger fleet would crash into; the price is
 * more frequent full GCs. `--no-allocation-site-pretenuring`: V8 allocates straight into the old
 * generation from any site whose objects often survived a minor GC; in the bursts of a probe cycle
 * enough short-lived probe objects were caught in flight that whole sites were pretenured, and
 * every probe's garbage then filled the old generation (at 10,000 hosts: promoted 11.3 → 8.2
 * MB/s, RSS peak 372 → 340 MB). Measured figures are in docs/benchmarks.md.
 */
export const HEAP_NODE_FLAGS: readonly string[] = [
  "--heap-growing-percent=100",
  "--no-allocation-site-pretenuring",
];

/**
 * Bytes allocated, by call site, in a NixGuard run (Node 20 has no total-allocated counter): V8's
 * sampling heap profiler including the objects minor and major GCs collected. Preload it into
 * the daemon of a bench, e.g.
 *   NIXGUARD_BENCH_NODE_ARGS="--import ./bench/_lib/alloc-profile.mjs" ALLOCPROF_OUT=/tmp/a.json \
 *     npx tsx bench/scale.ts --hosts 2000 --cycles 2 --interval 10s
 * It samples for ALLOCPROF_DUR ms (15000) starting ALLOCPROF_DELAY ms (15000) after start, and
 * writes { ms, profile } (a Chrome .heapprofile's `profile`, each node's selfSize in bytes).
 * ALLOCPROF_MINOR=0 leaves out what minor GCs collected: what is left survived the young
 * generation, i.e. was promoted to the old one (the garbage that makes major GCs run).
 */
import fs from "node:fs";
import { inspectorPost, window } from "./inspector.mjs";

const out = process.env.ALLOCPROF_OUT ?? "alloc-profile.json";
const post = inspectorPost();
let t0 = 0;
window(
  Number(process.env.ALLOCPROF_DELAY ?? 15000),
  Number(process.env.ALLOCPROF_DUR ?? 15000),
  async () => {
    await post("HeapProfiler.enable");
    await post("HeapProfiler.startSampling", {
      samplingInterval: 8192,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: process.env.ALLOCPROF_MINOR !== "0",
    });
    t0 = Date.now();
  },
  async () => {
    const { profile } = await post("HeapProfiler.stopSampling");
    fs.writeFileSync(out, JSON.stringify({ ms: Date.now() - t0, profile }));
  },
);

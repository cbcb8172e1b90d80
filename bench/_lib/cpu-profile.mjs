/**
 * A CPU profile of the steady state of a NixGuard run: `--cpu-prof` records from start-up, and
 * the first cycle of a scale run (every host seen for the first time, a reconcile pass per new
 * health) is not what the benchmark measures. Preload it into the daemon of a bench, e.g.
 *   NIXGUARD_BENCH_NODE_ARGS="--import ./bench/_lib/cpu-profile.mjs" CPUPROF_OUT=/tmp/c.cpuprofile \
 *     npx tsx bench/scale.ts --hosts 10000 --cycles 2 --interval 30s
 * It profiles for CPUPROF_DUR ms (30000) starting CPUPROF_DELAY ms (40000) after start and writes
 * a Chrome .cpuprofile (open it in Chrome's DevTools or read it with a script).
 */
import fs from "node:fs";
import { inspectorPost, window } from "./inspector.mjs";

const out = process.env.CPUPROF_OUT ?? "steady.cpuprofile";
const post = inspectorPost();
window(
  Number(process.env.CPUPROF_DELAY ?? 40000),
  Number(process.env.CPUPROF_DUR ?? 30000),
  async () => {
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 1000 });
    await post("Profiler.start");
  },
  async () => {
    const { profile } = await post("Profiler.stop");
    fs.writeFileSync(out, JSON.stringify(profile));
  },
);

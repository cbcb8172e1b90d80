/**
 * The machine's own scheduling floor, for reading latency figures (api-latency, detection): one
 * busy loop per core for `seconds`, each noting every moment it was not running for more than
 * 1 ms (the hypervisor ran another guest, the kernel ran something else). On a quiet dedicated
 * machine this is near zero; where a loop loses several ms at a time, no server on that machine
 * can promise a millisecond p99, whatever its own code does.
 *
 * Run: npx tsx bench/jitter.ts [--seconds 10]
 */
import os from "node:os";
import { Worker } from "node:worker_threads";
import { emit, flags, log } from "./_lib/report.js";

const f = flags({ seconds: "10" });
const seconds = Number(f.seconds);
if (!(seconds > 0)) {
  console.error("--seconds: expected a positive number");
  process.exit(64);
}

// Each loop in a thread of its own, so every core has one to watch.
const LOOP = `
const { parentPort, workerData } = require("node:worker_threads");
const end = performance.now() + workerData.ms;
let last = performance.now();
const gaps = [];
while (last < end) {
  const now = performance.now();
  if (now - last > 1) gaps.push(now - last);
  last = now;
}
parentPort.postMessage(gaps);
`;
const cores = os.availableParallelism();
const perCore = await Promise.all(
  Array.from(
    { length: cores },
    () =>
      new Promise<number[]>((resolve, reject) => {
        const w = new Worker(LOOP, { eval: true, workerData: { ms: seconds * 1000 } });
        w.once("message", (gaps: number[]) => {
          resolve(gaps);
          void w.terminate();
        });
        w.once("error", reject);
      }),
  ),
);
const gaps = perCore.flat().sort((a, b) => b - a);
const lostMs = (g: number[]) => g.reduce((a, b) => a + b, 0);
const worstCoreLost = Math.max(...perCore.map(lostMs));
const over5 = gaps.filter((g) => g > 5).length;
log(`per core, ms not running: ${perCore.map((g) => Math.round(lostMs(g))).join(", ")}`);
emit(
  ["bench", "cores × seconds", "stalls > 1 ms", "stalls > 5 ms", "worst stall", "most time lost on one core"],
  [
    "jitter",
    `${cores} × ${seconds}`,
    gaps.length,
    over5,
    `${(gaps[0] ?? 0).toFixed(1)} ms`,
    `${Math.round(worstCoreLost)} ms (${((100 * worstCoreLost) / (seconds * 1000)).toFixed(2)} %)`,
  ],
  {
    bench: "jitter",
    cores,
    seconds,
    stallsOver1ms: gaps.length,
    stallsOver5ms: over5,
    worstStallMs: Math.round((gaps[0] ?? 0) * 10) / 10,
    worstCoreLostMs: Math.round(worstCoreLost),
  },
);

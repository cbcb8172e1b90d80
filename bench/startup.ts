/**
 * CLI start-up: `nixguard --version` and `nixguard status --help` from the built package against
 * the floor `node -e 0`, median of N runs each, interleaved so the machine's mood hits both alike.
 * Target (issue 19): --version at most 3× the floor — commands load what they run, when they run.
 * `npm run bench -- startup`.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { builtEntry } from "./_lib/built.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = builtEntry(root, (l) => process.stderr.write(`${l}\n`));
const RUNS = Number(process.env["STARTUP_RUNS"] ?? 21);

function wallMs(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const cases: Record<string, string[]> = {
  "node -e 0": ["-e", "0"],
  "nixguard --version": [entry, "--version"],
  "nixguard status --help": [entry, "status", "--help"],
  "nixguard config --help": [entry, "config", "--help"],
};
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < RUNS; i++)
  for (const [name, args] of Object.entries(cases)) samples[name]!.push(wallMs(args));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const floor = median(samples["node -e 0"]!);
for (const [name, xs] of Object.entries(samples)) {
  const m = median(xs);
  process.stdout.write(
    `| start-up: ${name} | median ${m.toFixed(0)} ms of ${RUNS} | ${(m / floor).toFixed(2)}× node -e 0 |\n`,
  );
}

/**
 * `npm run bench`: runs every benchmark script under bench/ in turn (one figure each) and prints
 * their markdown rows together, for docs/benchmarks.md. `npm run bench -- NAME...` runs some.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// soak and ssh-capacity run for tens of minutes and load the machine to its limit: run them alone.
const skip = new Set(["run-all.ts", "soak.ts", "ssh-capacity.ts"]);
const wanted = process.argv.slice(2);
const scripts = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !skip.has(f) && !f.startsWith("_"))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const rows: string[] = [];
for (const script of scripts) {
  process.stderr.write(`bench: ${script}\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(here, script)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.stdout.write(r.stdout);
  rows.push(...r.stdout.split("\n").filter((l) => l.startsWith("|")));
  if (r.status !== 0) process.stderr.write(`bench: ${script} exited ${r.status}\n`);
}
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
process.stdout.write(
  `\n${new Date().toISOString().slice(0, 10)} — ${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}\n\n${rows.join("\n")}\n`,
);

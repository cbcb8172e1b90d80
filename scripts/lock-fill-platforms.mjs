// The npm mirror this project is built against serves only the Linux builds of packages with
// per-platform optional dependencies (biome, esbuild, rolldown, msgpackr-extract). npm then writes
// a lockfile without the other platforms' entries, and `npm ci` refuses it as "out of sync".
// This adds the missing optional entries (version only; npm skips them on a foreign platform),
// so `npm ci` works. Run after every `npm install`: `node scripts/lock-fill-platforms.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const pkgs = lock.packages;
let added = 0;
for (const [key, meta] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = key ? `${key}/node_modules/${dep}` : `node_modules/${dep}`;
    const top = `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[top]) continue;
    pkgs[top] = { version, optional: true, ...(meta.dev ? { dev: true } : {}) };
    added++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-fill-platforms: added ${added} optional platform entries`);

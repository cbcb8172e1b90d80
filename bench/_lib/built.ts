import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * The built package (`dist/main.js`, what nix/package.nix and the Dockerfile run), rebuilt with
 * `tsc -p tsconfig.build.json` when any source is newer than the build. Benchmarks measure what
 * operators run: from the sources through tsx, NixGuard also carries tsx's loader (a worker
 * thread with a V8 heap of its own) and its source maps — ~30 MB of RSS that a deployment does
 * not have.
 */
export function builtEntry(root: string, log: (line: string) => void): string {
  const entry = join(root, "dist", "main.js");
  const newestSource = Math.max(
    newest(join(root, "src")),
    ...["tsconfig.json", "tsconfig.build.json", "package.json"].map((f) => statSync(join(root, f)).mtimeMs),
  );
  if (!existsSync(entry) || newest(join(root, "dist")) < newestSource) {
    log("dist/ is older than src/: building (tsc -p tsconfig.build.json)");
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
      cwd: root,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`tsc failed (${r.status}):\n${r.stdout}${r.stderr}`);
  }
  return entry;
}

/** The newest modification time of any file under `dir` (0 when there is none). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * Runs nix-instantiate on the Nix test harnesses with the nixpkgs lib in NIXPKGS_LIB.
 * Read-only against a dummy store: evaluation computes store paths without writing any, so it
 * needs no Nix store, no daemon and no root.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const root = new URL("../../..", import.meta.url).pathname;
export const nixpkgsLib = process.env.NIXPKGS_LIB;

/**
 * Why the evaluation tests cannot run although NIXPKGS_LIB is set, or undefined when they can.
 * With NIXPKGS_LIB set (CI sets it) that is a failure, not a skip.
 */
export function unusable(): string | undefined {
  if (!nixpkgsLib) return "NIXPKGS_LIB is not set";
  if (!existsSync(join(nixpkgsLib, "default.nix"))) return `NIXPKGS_LIB=${nixpkgsLib} has no default.nix`;
  const r = spawnSync("nix-instantiate", ["--version"], { encoding: "utf8" });
  if (r.error) return `nix-instantiate cannot run: ${r.error.message}`;
  if (r.status !== 0) return `nix-instantiate --version exited ${r.status}: ${r.stderr}`;
  return undefined;
}

/** Evaluates `file` (relative to the repository) strictly to JSON, `lib` and `args` passed with --arg. */
export function nixEval<T>(file: string, args: Record<string, string> = {}): T {
  const argv = [
    "--eval",
    "--strict",
    "--json",
    "--readonly-mode",
    "--store",
    "dummy://",
    join(root, file),
    "--arg",
    "lib",
    `import ${nixpkgsLib}`,
  ];
  for (const [name, value] of Object.entries(args)) argv.push("--arg", name, value);
  const r = spawnSync("nix-instantiate", argv, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`nix-instantiate ${file} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

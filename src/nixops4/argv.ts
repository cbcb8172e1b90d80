import { nixops4ExtraArgs, nixops4Target, relativePath } from "../config/grammar.js";
import { NixGuardError } from "../errors.js";

/**
 * nixops4's command lines, built in one place and re-checked at the last step before exec.
 * Both CLI generations (../shared/fediversity.md): the older one applies one deployment by name
 * (`apply [DEPLOYMENT]`, default `default`) and lists them with `deployments list`; the newer
 * one applies composite paths under one root (`apply [PATH...]`, none = the whole root) and lists
 * a composite's members with `members list [PATH]`.
 */
export type Nixops4Generation = "deployments" | "members";

export interface Nixops4Globals {
  extraArgs: readonly string[];
  /** `--file`, relative to the working directory. */
  file?: string;
}

/**
 * A configured target as NixGuard keeps it: one name or dot path, several paths separated by
 * spaces (newer CLI), or "" for the whole root. The grammar of each path forbids spaces, so the
 * split is exact.
 */
export const targetPaths = (target: string): string[] => target.split(" ").filter((p) => p !== "");

/** How a target reads in messages. */
export const describeTarget = (target: string): string => (target === "" ? "the whole root" : target);

/** Global flags first: `--no-interactive` always (the TUI is picked when stdin is a TTY). */
export function globalArgv(g: Nixops4Globals): string[] {
  const badArg = nixops4ExtraArgs(g.extraArgs);
  if (badArg)
    throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 argument ${badArg.index}: ${badArg.message}`);
  const out = ["--no-interactive"];
  if (g.file !== undefined) {
    const bad = relativePath(g.file);
    if (bad) throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 file: ${bad}`);
    if (g.extraArgs.includes("--override-input"))
      throw new NixGuardError("UNSAFE_VALUE", "--override-input cannot be used with a nixops4 file");
    out.push("--file", g.file);
  }
  return [...out, ...g.extraArgs];
}

/** The argv after the command. `--` ends the flags: a path can never be read as one. */
export function applyArgv(target: string, g: Nixops4Globals): string[] {
  const paths = targetPaths(target);
  for (const p of paths) {
    const bad = nixops4Target(p);
    if (bad) throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 target: ${bad}`);
  }
  return ["apply", ...globalArgv(g), ...(paths.length > 0 ? ["--", ...paths] : [])];
}

/** What can be applied: deployment names (older CLI) or the members of a composite (newer). */
export function listArgv(generation: Nixops4Generation, g: Nixops4Globals, path = ""): string[] {
  if (generation === "deployments") return ["deployments", "list", ...globalArgv(g)];
  if (path !== "") {
    const bad = nixops4Target(path);
    if (bad) throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4 path: ${bad}`);
  }
  return ["members", "list", ...globalArgv(g), ...(path !== "" ? ["--", path] : [])];
}

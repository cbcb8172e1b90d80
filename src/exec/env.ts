import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/**
 * The environment a long child gets: only what nix and ssh need. Everything else NixGuard holds
 * (tokens, NODE_OPTIONS, credentials directories) stays out of nixops4's reach and out of logs.
 */
const PASS = new Set(["PATH", "HOME", "SSH_AUTH_SOCK", "LANG"]);

export function boundedEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (PASS.has(name) || name.startsWith("NIX_")) env[name] = value;
  }
  return env;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `command` as an absolute executable path: itself when it contains a '/', else looked up on PATH. */
export function resolveCommand(command: string, pathVar: string | undefined): string | undefined {
  if (command.includes("/")) return isAbsolute(command) && isExecutableFile(command) ? command : undefined;
  for (const dir of (pathVar ?? "").split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

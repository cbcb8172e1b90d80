import { boundedEnv, resolveCommand } from "../exec/env.js";
import { runGuarded } from "../exec/run.js";
import type { Nixops4Settings } from "../queue/nixops4.js";
import { listArgv, type Nixops4Generation, type Nixops4Globals, targetPaths } from "./argv.js";
import { errorChain } from "./outcome.js";
import type { Discovery, PathAnswer } from "./targets.js";

/**
 * Asks nixops4 in a deployment's directory what it can apply: which CLI generation it is (from
 * its own --help: `members` on the newer, `deployments` on the older), then `deployments list`,
 * or `members list` of the root and of each configured path. Read-only commands: they evaluate
 * the deployment but create or change nothing. Their output is never logged whole (a failing
 * evaluation may quote the deployment).
 */
const LIST_TIMEOUT_MS = 10 * 60_000;

interface Ran {
  code: number | undefined;
  stdout: string;
  stderr: string;
}

async function run(
  settings: Nixops4Settings,
  dir: string,
  args: string[],
  env: Record<string, string>,
): Promise<Ran> {
  const command = resolveCommand(settings.command, env["PATH"]);
  if (!command) return { code: 127, stdout: "", stderr: `${settings.command} not found on PATH` };
  const r = await runGuarded({
    command,
    args,
    cwd: dir,
    env,
    timeoutMs: Math.min(settings.timeout, LIST_TIMEOUT_MS),
    interruptGraceMs: settings.interruptGrace,
    killGraceMs: settings.killGrace,
    stragglerGraceMs: settings.stragglerGrace,
    tailBytes: 256 * 1024,
  }).result;
  return { code: r.exitCode, stdout: r.stdoutTail, stderr: r.stderrTail };
}

/** The generation from `nixops4 --help`'s command list. */
export function generationFromHelp(help: string): Nixops4Generation | undefined {
  if (/^\s+members\s/m.test(help)) return "members";
  if (/^\s+deployments\s/m.test(help)) return "deployments";
  return undefined;
}

const lines = (s: string) =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** nixops4's error with its Caused by: chain, else clap's `error:` line, else the last line. */
const firstError = (s: string) =>
  (errorChain(s) ?? lines(s).find((l) => l.startsWith("error:")) ?? lines(s).at(-1) ?? "").slice(0, 500);

export async function discover(
  settings: Nixops4Settings,
  dir: string,
  targets: string[],
  envSource: NodeJS.ProcessEnv = process.env,
  /** Already detected in this directory: --help is asked once per directory. */
  known?: Nixops4Generation,
): Promise<Discovery | { error: string }> {
  const env = boundedEnv(envSource);
  const g: Nixops4Globals = {
    extraArgs: settings.extraArgs,
    ...(settings.file !== undefined ? { file: settings.file } : {}),
  };
  let generation = known;
  if (!generation) {
    const help = await run(settings, dir, ["--help"], env);
    generation = generationFromHelp(help.stdout);
    if (!generation)
      return {
        error: `cannot tell nixops4's CLI generation from its --help (exit ${help.code}): ${firstError(help.stderr)}`,
      };
  }
  const listed = await run(settings, dir, listArgv(generation, g), env);
  if (listed.code !== 0)
    return {
      error: `nixops4 ${generation} list failed in ${dir} (exit ${listed.code}): ${firstError(listed.stderr)}`,
    };
  const names = lines(listed.stdout);
  const paths: Record<string, PathAnswer> = {};
  if (generation === "members") {
    for (const p of new Set(targets.flatMap(targetPaths))) {
      const r = await run(settings, dir, listArgv("members", g, p), env);
      paths[p] =
        r.code === 0
          ? { kind: "composite" }
          : /but found resource/.test(r.stderr)
            ? { kind: "resource" }
            : { kind: "error", message: firstError(r.stderr) };
    }
  }
  return { generation, names, paths };
}

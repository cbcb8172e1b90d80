import { formatDuration } from "../config/duration.js";
import type { LoadedConfig } from "../config/load.js";
import type { ConfigIssue } from "../errors.js";
import type { Nixops4Generation } from "./argv.js";
import { discover } from "./discover.js";
import { judgeTargets } from "./targets.js";

/** What nixops4 answered for one deployment. */
export interface DeploymentTargets {
  deployment: string;
  flake: string;
  /** The CLI generation found in its directory (absent: nixops4 could not tell). */
  generation?: Nixops4Generation;
  /** nixops4 could not answer (not runnable, evaluation failed, timed out): nothing is known. */
  error?: string;
  /** Targets nixops4 answered are not there or not applicable. */
  issues: ConfigIssue[];
}

/**
 * Every deployment's targets against what nixops4 answers in its directory, one directory at a
 * time (nixops4 evaluates the whole deployment for each answer). The generation is detected once
 * per directory, whichever deployments share it.
 */
export async function discoverTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
  only?: ReadonlySet<string>,
): Promise<DeploymentTargets[]> {
  const out: DeploymentTargets[] = [];
  const generations = new Map<string, Nixops4Generation>();
  const { nixops4 } = loaded.config;
  for (const dep of loaded.desired.deployments) {
    if (only && !only.has(dep.name)) continue;
    const targets = [dep.target, ...dep.hosts.filter((h) => h.ownTarget).map((h) => h.target)];
    const found = await discover(nixops4, dep.flake, targets, env, generations.get(dep.flake));
    const base = { deployment: dep.name, flake: dep.flake };
    if ("error" in found) {
      out.push({
        ...base,
        error: `${found.error} (nixops4.timeout ${formatDuration(nixops4.timeout)})`,
        issues: [],
      });
      continue;
    }
    generations.set(dep.flake, found.generation);
    out.push({
      ...base,
      generation: found.generation,
      issues: judgeTargets(dep, found, `deployments.${dep.name}`),
    });
  }
  return out;
}

/**
 * `config check --deep`: every answer that is not "applicable" is an error, including nixops4 not
 * answering at all. The generation found per directory is returned for display.
 */
export async function checkTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ issues: ConfigIssue[]; generations: Record<string, Nixops4Generation> }> {
  const issues: ConfigIssue[] = [];
  const generations: Record<string, Nixops4Generation> = {};
  for (const d of await discoverTargets(loaded, env)) {
    if (d.error !== undefined) issues.push({ path: `deployments.${d.deployment}.flake`, message: d.error });
    if (d.generation) generations[d.flake] = d.generation;
    issues.push(...d.issues);
  }
  return { issues, generations };
}

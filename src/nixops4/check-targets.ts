import { formatDuration } from "../config/duration.js";
import type { LoadedConfig } from "../config/load.js";
import type { ConfigIssue } from "../errors.js";
import type { Nixops4Generation } from "./argv.js";
import { discover } from "./discover.js";
import { judgeTargets } from "./targets.js";

/**
 * Every deployment's targets against what nixops4 answers in its directory, one directory at a
 * time (nixops4 evaluates the whole deployment for each answer). The generation found per
 * directory is returned for display (/api/v1/status, `config check --deep`).
 */
export async function checkTargets(
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ issues: ConfigIssue[]; generations: Record<string, Nixops4Generation> }> {
  const issues: ConfigIssue[] = [];
  const generations: Record<string, Nixops4Generation> = {};
  const { nixops4 } = loaded.config;
  for (const dep of loaded.desired.deployments) {
    const targets = [dep.target, ...dep.hosts.filter((h) => h.ownTarget).map((h) => h.target)];
    const found = await discover(nixops4, dep.flake, targets, env);
    const path = `deployments.${dep.name}`;
    if ("error" in found) {
      issues.push({
        path: `${path}.flake`,
        message: `${found.error} (nixops4.timeout ${formatDuration(nixops4.timeout)})`,
      });
      continue;
    }
    generations[dep.flake] = found.generation;
    issues.push(...judgeTargets(dep, found, path));
  }
  return { issues, generations };
}

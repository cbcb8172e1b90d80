import type { DeploymentSpec } from "../config/desired.js";
import type { ConfigIssue } from "../errors.js";
import { describeTarget, type Nixops4Generation, targetPaths } from "./argv.js";

/**
 * Whether the configured targets exist and can be applied, judged from what nixops4 itself
 * answered in the deployment's directory (discover.ts runs it). Pure.
 *
 * - Older CLI: a target is a deployment name `deployments list` prints (`nixops4Deployments.<name>`);
 *   a dot path is looked up as a deployment literally called so.
 * - Newer CLI: every path must name a composite — a resource (every nixops4-nixos machine is one)
 *   is refused by `apply` with `Expected composite at …, but found resource`. "" is the root.
 */
export type PathAnswer = { kind: "composite" } | { kind: "resource" } | { kind: "error"; message: string };

export interface Discovery {
  generation: Nixops4Generation;
  /** `deployments list` (older) or `members list` of the root (newer). */
  names: string[];
  /** Newer CLI: what `members list PATH` answered for each configured path. */
  paths: Record<string, PathAnswer>;
}

export function judgeTargets(dep: DeploymentSpec, found: Discovery, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const exists = found.names.length > 0 ? found.names.join(", ") : "nothing";
  const check = (target: string, where: string, who: string) => {
    if (found.generation === "deployments") {
      if (target === "" || targetPaths(target).length !== 1)
        return issues.push({
          path: where,
          message: `${who}: the older nixops4 CLI applies one deployment by name; it lists: ${exists}`,
          value: target,
        });
      if (!found.names.includes(target))
        issues.push({
          path: where,
          message: `${who}: no deployment "${target}" in ${dep.flake} (nixops4 deployments list: ${exists})${target.includes(".") ? "; the older CLI has no per-machine paths: use the deployment's name" : ""}`,
          value: target,
        });
      return;
    }
    for (const p of targetPaths(target)) {
      const a = found.paths[p];
      if (a?.kind === "composite") continue;
      const why =
        a?.kind === "resource"
          ? `"${p}" is a resource (a nixops4-nixos machine is one), and nixops4 applies composites only; apply the composite that holds it, or the whole root (target [])`
          : `"${p}" cannot be applied: ${a?.message ?? "not checked"}`;
      issues.push({ path: where, message: `${who}: ${why} (root members: ${exists})`, value: target });
    }
  };
  check(dep.target, `${path}.target`, `deployment ${dep.name}, target ${describeTarget(dep.target)}`);
  for (const h of dep.hosts)
    if (h.ownTarget)
      check(h.target, `${path}.hosts.${h.name}.target`, `host ${h.name}, target ${describeTarget(h.target)}`);
  return issues;
}

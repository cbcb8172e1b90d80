import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../errors.js";

/** contrib/prometheus/alerts.yml, found from both src/ (tsx) and dist/ (built), as version.ts finds package.json. */
function shippedRules(): string {
  for (const rel of ["../../contrib/prometheus/alerts.yml", "../../../contrib/prometheus/alerts.yml"]) {
    try {
      return readFileSync(new URL(rel, import.meta.url), "utf8");
    } catch {}
  }
  throw new UsageError("contrib/prometheus/alerts.yml is not installed next to NixGuard");
}

/**
 * The alert rules with every runbook_url absolute, from one base: Alertmanager and its
 * receivers show runbook links as they are, and the shipped relative ones
 * (`docs/operations.md#anchor`) are not clickable there (issue 19).
 */
export function rulesWithRunbookBase(rules: string, base: string): string {
  if (!/^https?:\/\/[^\s"#]+$/.test(base))
    throw new UsageError(
      `--runbook-base takes an http(s) URL of operations.md without #anchor (got "${base}")`,
    );
  return rules.replace(
    /runbook_url: "docs\/operations\.md#([\w-]+)"/g,
    (_m, anchor: string) => `runbook_url: "${base}#${anchor}"`,
  );
}

export function registerAlertsCommand(program: Command): void {
  program
    .command("alerts")
    .description(
      "print NixGuard's Prometheus alert rules with absolute runbook links: nixguard alerts --runbook-base https://docs.example.org/nixguard/operations.md > nixguard-alerts.yml",
    )
    .requiredOption("--runbook-base <url>", "URL of docs/operations.md where your people read it (required)")
    .action((opts: { runbookBase: string }) => {
      process.stdout.write(rulesWithRunbookBase(shippedRules(), opts.runbookBase));
    });
}

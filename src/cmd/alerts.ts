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

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A Prometheus duration (`5m`, `1h30m`, `250ms`) in milliseconds; undefined if it is not one. */
export function promDurationMs(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] as string] as number), 0);
}

/**
 * The alert rules with every time they wait divided by `scale`: each `for:` and each range
 * selector (`[2h]`) of an expression. For trying the rules against the demo (`nixguard demo
 * --alerts`) in minutes instead of hours: the rules keep their shape, so what fires in the demo
 * fires in production, `scale` times later. Thresholds that are not waits (a certificate's
 * 14 days) stay as they are.
 */
export function rulesWithTimeScale(rules: string, scale: number): string {
  if (!(Number.isFinite(scale) && scale >= 1))
    throw new UsageError(`--time-scale takes a number ≥ 1 (got "${scale}")`);
  const scaled = (d: string) => {
    const ms = promDurationMs(d);
    if (ms === undefined) throw new UsageError(`alerts.yml: "${d}" is not a Prometheus duration`);
    return `${Math.max(1, Math.round(ms / scale))}ms`;
  };
  return rules
    .replace(/^(\s+for: )(\S+)$/gm, (_m, lead: string, d: string) => `${lead}${scaled(d)}`)
    .replace(/^(\s+expr: .*)$|^(\s{10}\S.*)$/gm, (line) =>
      line.replace(/\[(\w+)\]/g, (_m, d: string) => `[${scaled(d)}]`),
    );
}

export function registerAlertsCommand(program: Command): void {
  program
    .command("alerts")
    .description(
      "print NixGuard's Prometheus alert rules with absolute runbook links: nixguard alerts --runbook-base https://docs.example.org/nixguard/operations.md > nixguard-alerts.yml",
    )
    .requiredOption("--runbook-base <url>", "URL of docs/operations.md where your people read it (required)")
    .option(
      "--time-scale <n>",
      "divide every wait of the rules (for:, [range]) by n, to watch them fire against `nixguard demo --alerts`",
    )
    .action((opts: { runbookBase: string; timeScale?: string }) => {
      let rules = rulesWithRunbookBase(shippedRules(), opts.runbookBase);
      if (opts.timeScale !== undefined) {
        const n = Number(opts.timeScale);
        if (!/^\d+(\.\d+)?$/.test(opts.timeScale))
          throw new UsageError(`--time-scale takes a number ≥ 1 (got "${opts.timeScale}")`);
        rules = rulesWithTimeScale(rules, n);
      }
      process.stdout.write(rules);
    });
}

import type { Command } from "commander";
import { ConfigError, type ConfigIssue } from "../errors.js";

const issueLine = (i: ConfigIssue) =>
  `  ${i.path || "(root)"}: ${i.message}${i.value === undefined ? "" : ` (${JSON.stringify(i.value)})`}`;

/**
 * `nixguard config check|show FILE`. The config loader (zod and the catalog) is imported when a
 * subcommand runs, not when the CLI starts.
 */
export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("validate or inspect a config file");

  config
    .command("check")
    .description(
      "validate a config file in one pass: JSON, schema, cross-field rules, cron expressions, references, and the files it needs (token files, ssh keys, known_hosts: present, readable by this user — run it as NixGuard's user — and secrets not readable by others); exit 0 when valid (warnings on stderr), 78 with every error when not",
    )
    .argument("<file>", "config file (JSON)")
    .option("-q, --quiet", "print nothing when valid")
    .option(
      "--no-files",
      "skip the files the config names (a build sandbox or another machine, where credentials do not exist yet)",
    )
    .option(
      "--deep",
      "also ask nixops4 in each deployment's directory what it can apply (runs nixops4's read-only list commands, which evaluate the deployment) and refuse targets it cannot",
    )
    .action(async (file: string, opts: { quiet?: boolean; files: boolean; deep?: boolean }) => {
      const { checkConfigFile } = await import("../config/load.js");
      const r = checkConfigFile(file, { files: opts.files });
      if (opts.deep && r.loaded && r.errors.length === 0) {
        const { checkTargets } = await import("../nixops4/check-targets.js");
        const deep = await checkTargets(r.loaded);
        for (const [dir, generation] of Object.entries(deep.generations))
          if (!opts.quiet)
            process.stdout.write(
              `${dir}: nixops4 ${generation === "members" ? "newer CLI (members)" : "older CLI (deployments)"}\n`,
            );
        r.errors.push(...deep.issues);
      }
      if (r.warnings.length > 0)
        process.stderr.write(
          `${file}: ${r.warnings.length} warning(s)\n${r.warnings.map(issueLine).join("\n")}\n`,
        );
      if (r.errors.length > 0 || !r.loaded) throw new ConfigError(r.errors, file);
      if (!opts.quiet) {
        const { deployments } = r.loaded.desired;
        const hosts = deployments.reduce((n, d) => n + d.hosts.length, 0);
        const checks = deployments
          .flatMap((d) => d.hosts)
          .reduce((n, h) => n + h.units.length + h.http.length, 0);
        process.stdout.write(
          `${file}: ok (${deployments.length} deployment(s), ${hosts} host(s), ${checks} check(s))\n`,
        );
      }
    });

  config
    .command("show")
    .description(
      'print what NixGuard makes of a config file, as JSON: "config" is the effective config (every default filled in), "deployments" every host expanded with exactly what it is probed for',
    )
    .argument("<file>", "config file (JSON)")
    .option("--effective", "print only the effective config")
    .option("--hosts", "print only the expanded deployments and hosts")
    .action(async (file: string, opts: { effective?: boolean; hosts?: boolean }) => {
      const { loadConfigFile } = await import("../config/load.js");
      const loaded = loadConfigFile(file);
      const out = opts.effective
        ? loaded.config
        : opts.hosts
          ? loaded.desired
          : { config: loaded.config, deployments: loaded.desired.deployments };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}

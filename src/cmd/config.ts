import type { Command } from "commander";

/** `nixguard config check|show FILE`: validate, or print exactly what will be probed per host. */
export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("validate or inspect a config file");

  config
    .command("check")
    .description("validate a config file; exit 0 when valid, 78 with every error when not")
    .argument("<file>", "config file (JSON)")
    .option("-q, --quiet", "print nothing when valid")
    .action(async (file: string, opts: { quiet?: boolean }) => {
      const { loadConfigFile } = await import("../config/load.js");
      const loaded = loadConfigFile(file);
      if (!opts.quiet) {
        const hosts = loaded.desired.deployments.reduce((n, d) => n + d.hosts.length, 0);
        const checks = loaded.desired.deployments
          .flatMap((d) => d.hosts)
          .reduce((n, h) => n + h.units.length + h.http.length, 0);
        process.stdout.write(
          `${file}: ok (${loaded.desired.deployments.length} deployment(s), ${hosts} host(s), ${checks} check(s))\n`,
        );
      }
    });

  config
    .command("show")
    .description("print the expanded desired state as JSON: every host and exactly what it is probed for")
    .argument("<file>", "config file (JSON)")
    .option("--effective", "print the whole effective config (defaults applied) instead")
    .action(async (file: string, opts: { effective?: boolean }) => {
      const { loadConfigFile } = await import("../config/load.js");
      const loaded = loadConfigFile(file);
      const out = opts.effective ? loaded.config : loaded.desired;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}

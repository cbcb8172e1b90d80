import type { Command } from "commander";

export interface ServeOptions {
  config?: string;
  logFormat: string;
  logLevel?: string;
  roles: string;
  listen?: string;
}

/**
 * `nixguard serve`: the daemon. SIGTERM/SIGINT stop it gracefully (a running apply gets
 * worker.shutdownGrace) and it exits 0; SIGHUP reloads the config file (refused if invalid).
 * The daemon's modules (serve-run.ts) load only when it runs: they cost every other command time.
 */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the NixGuard daemon")
    .option(
      "-c, --config <file>",
      "config file (JSON; environment: NIXGUARD_CONFIG)",
      process.env["NIXGUARD_CONFIG"],
    )
    .option("--log-format <format>", "json (default, journald-friendly) or pretty", "json")
    .option("--log-level <level>", "overrides log.level in the config (environment: NIXGUARD_LOG_LEVEL)")
    .option(
      "--roles <roles>",
      "roles of this process: controller,worker,api,probe (probe: a share of the probing, no lease)",
      "controller,worker,api",
    )
    .option("--listen <host:port>", "overrides api.listen")
    .action(async (opts: ServeOptions) => {
      const { serve } = await import("./serve-run.js");
      await serve(opts);
    });
}

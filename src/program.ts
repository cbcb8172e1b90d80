import { Command, CommanderError } from "commander";
import { registerClientCommands } from "./cli/commands.js";
import { registerConfigCommands } from "./cmd/config.js";
import { registerDemoCommand } from "./cmd/demo.js";
import { registerServeCommand } from "./cmd/serve.js";
import { ConfigError, EXIT, isNixGuardError } from "./errors.js";
import { VERSION } from "./version.js";

/**
 * CLI entry. Exit codes follow sysexits: 0 ok, 64 usage, 69 unavailable, 78 config error.
 * Known errors print their message only (no stack trace); unknown ones print the stack.
 */
export function buildProgram(): Command {
  const program = new Command("nixguard")
    .description("Self-healing controller for NixOS fleets deployed with nixops4")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerServeCommand(program);
  registerConfigCommands(program);
  registerClientCommands(program);
  registerDemoCommand(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (e) {
    return reportError(e);
  }
}

function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // --help and --version exit through here too.
    if (
      e.code === "commander.helpDisplayed" ||
      e.code === "commander.version" ||
      e.code === "commander.help"
    ) {
      return EXIT.OK;
    }
    return EXIT.USAGE;
  }
  if (e instanceof ConfigError || (isNixGuardError(e) && e.code === "CONFIG_READ")) {
    process.stderr.write(`nixguard: ${e.message}\n`);
    return EXIT.CONFIG;
  }
  if (isNixGuardError(e)) {
    process.stderr.write(`nixguard: ${e.message}\n`);
    if (e.code === "USAGE") return EXIT.USAGE;
    if (e.code === "REDIS_UNAVAILABLE" || e.code === "REDIS_NOT_INSTALLED" || e.code === "API_UNAVAILABLE") {
      return EXIT.UNAVAILABLE;
    }
    return EXIT.FAILURE;
  }
  process.stderr.write(`nixguard: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT.FAILURE;
}

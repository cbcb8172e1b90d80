import { Command, CommanderError } from "commander";
import { registerClientCommands } from "./cli/commands.js";
import { registerAlertsCommand } from "./cmd/alerts.js";
import { registerConfigCommands } from "./cmd/config.js";
import { registerDemoCommand } from "./cmd/demo.js";
import { registerServeCommand } from "./cmd/serve.js";
import { EXIT, exitCodeOf, isNixGuardError } from "./errors.js";
import { VERSION } from "./version.js";

/**
 * CLI entry. Exit codes: errors.ts EXIT (0 ok, 1 failure, 2 fleet unhealthy, 3 job cancelled,
 * 4 job timed out, 64 usage, 69 unavailable, 78 config). Known errors print their message only
 * (no stack trace); unknown ones print the stack. Registering a command loads only commander and
 * the small client: each command imports what it runs when it runs (bench/startup.ts).
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
  registerAlertsCommand(program);
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
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
  if (isNixGuardError(e)) {
    process.stderr.write(`nixguard: ${e.message}\n`);
    return exitCodeOf(e);
  }
  process.stderr.write(`nixguard: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT.FAILURE;
}

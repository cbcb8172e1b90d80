import { Command, CommanderError } from "commander";
import { clientExitCode, registerClientCommands } from "../../../src/cli/index.js";
import { ADMIN, type Listening } from "./server.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `nixguard ARGS` in-process the way src/main.ts does, capturing output and exit code. */
export function cliRunner(api: () => Listening) {
  return async (
    args: string[],
    env: Record<string, string | undefined> = {},
    signal?: AbortSignal,
  ): Promise<CliResult> => {
    let stdout = "";
    let stderr = "";
    const out = (t: string) => {
      stdout += t;
    };
    const err = (t: string) => {
      stderr += t;
    };
    const program = new Command("nixguard").exitOverride().configureOutput({ writeOut: out, writeErr: err });
    registerClientCommands(
      program,
      {
        stdout: out,
        stderr: err,
        env: { NIXGUARD_URL: api().url, NIXGUARD_TOKEN: ADMIN, ...env },
        now: Date.now,
      },
      signal,
    );
    const override = (c: Command) => {
      c.exitOverride().configureOutput({ writeOut: out, writeErr: err });
      c.commands.forEach(override);
    };
    program.commands.forEach(override);
    let code = 0;
    try {
      await program.parseAsync(["node", "nixguard", ...args]);
    } catch (e) {
      if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 64;
      else {
        code = clientExitCode(e);
        stderr += `${(e as Error).message}\n`;
      }
    }
    return { code, stdout, stderr };
  };
}

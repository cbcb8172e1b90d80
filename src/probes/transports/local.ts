import { CommandError } from "../../errors.js";
import type { Abortable } from "../cancel.js";
import { buildProbeCommand, buildRestartCommand } from "../systemd/command.js";
import {
  buildListGenerationsCommand,
  buildSwitchCommand,
  type GenerationListing,
  parseGenerations,
} from "../systemd/generations.js";
import { parseProbeOutput } from "../systemd/parse.js";
import type { HostFacts, Transport } from "../types.js";
import { CAN_RESTART } from "./capabilities.js";
import { runCommand, stderrTail } from "./run.js";

export interface LocalTransportOptions {
  /** Environment of the commands (tests put fake systemctl/readlink/df first on PATH). */
  env?: Record<string, string>;
}

/** The NixGuard host itself: the same probe line as over ssh, through `sh -c`. */
export class LocalTransport implements Transport {
  readonly kind = "local" as const;
  readonly canRestart = CAN_RESTART.local;

  constructor(private readonly opts: LocalTransportOptions = {}) {}

  private run(file: string, args: string[], signal: Abortable) {
    return runCommand(file, args, { signal, ...(this.opts.env ? { env: this.opts.env } : {}) });
  }

  async fetch(units: readonly string[], signal: Abortable): Promise<HostFacts> {
    const r = await this.run("sh", ["-c", buildProbeCommand(units)], signal);
    return parseProbeOutput(r.stdout, units);
  }

  async restart(units: readonly string[], signal: Abortable): Promise<void> {
    // Validated through the same grammar as the remote line; here argv needs no quoting.
    buildRestartCommand(units);
    const args = ["restart", ...units];
    const r = await this.run("systemctl", args, signal);
    if (r.exitCode !== 0) {
      throw new CommandError("COMMAND_FAILED", `systemctl restart ${units.join(" ")} exited ${r.exitCode}`, {
        argv: ["systemctl", ...args],
        exitCode: r.exitCode,
        stderrTail: stderrTail(r.stderr),
      });
    }
  }

  async generations(signal: Abortable): Promise<GenerationListing> {
    return parseGenerations(await this.sh(buildListGenerationsCommand(), "list generations", signal));
  }

  async switchSystem(path: string, unit: string, signal: Abortable): Promise<void> {
    await this.sh(buildSwitchCommand(path, unit), `switch to ${path}`, signal);
  }

  private async sh(line: string, what: string, signal: Abortable): Promise<string> {
    const r = await this.run("sh", ["-c", line], signal);
    if (r.exitCode !== 0) {
      throw new CommandError("COMMAND_FAILED", `${what} exited ${r.exitCode}`, {
        argv: ["sh", "-c", line],
        exitCode: r.exitCode,
        stderrTail: stderrTail(r.stderr),
      });
    }
    return r.stdout;
  }

  async close(): Promise<void> {}
}

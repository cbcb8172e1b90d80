import { type Command, Option } from "commander";
import { parseDuration } from "../config/duration-text.js";
import { UsageError } from "../errors.js";
import { type ApiClient, type ClientOptions, DEFAULT_URL, resolveClient } from "./client.js";
import type { ClientIo } from "./io.js";

export type OutputFormat = "table" | "wide" | "json";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["table", "wide", "json"];

export interface Common extends ClientOptions {
  output?: OutputFormat;
  json?: boolean;
}

/** What every client command's action gets besides its own options. */
export interface CommandKit {
  io: ClientIo;
  client(opts: Common): ApiClient;
  /** JSON for -o json / --json, else the table (wide with -o wide). */
  print(opts: Common, data: unknown, human: (wide: boolean) => string): void;
}

export function commandKit(io: ClientIo): CommandKit {
  return {
    io,
    client: (opts) => resolveClient(opts, io.env),
    print(opts, data, human) {
      const format = outputOf(opts);
      io.stdout(format === "json" ? `${JSON.stringify(data, null, 2)}\n` : human(format === "wide"));
    },
  };
}

export function outputOf(opts: Common): OutputFormat {
  return opts.json ? "json" : (opts.output ?? "table");
}

/** A client command with the options they all take; the help names the environment variables exactly. */
export function clientCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option("--url <url>", `API base URL (environment: NIXGUARD_URL; default ${DEFAULT_URL})`)
    .option(
      "--token-file <file>",
      "file holding the bearer token (else the environment variable NIXGUARD_TOKEN holds the token itself)",
    )
    .addOption(
      new Option("-o, --output <format>", "table (default), wide, or json for scripts").choices(
        OUTPUT_FORMATS,
      ),
    )
    .option("--json", "same as -o json");
}

/** `--reason` is required by every command that records one; commander's help then says so. */
export function reasonOption(cmd: Command): Command {
  return cmd.addOption(
    new Option("--reason <text>", "why, recorded in the event (required)").makeOptionMandatory(),
  );
}

/** An integer option checked here, so the error names the option, not the API's `querystring.limit`. */
export function intOption(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`${flag} takes a whole number from ${min} to ${max} (got "${text}")`);
  return Number(text);
}

/** ISO time or a duration, as the API's `since`/`until` take them; checked here to name the option. */
export function timeOption(flag: string, text: string): string {
  const duration = parseDuration(text) !== undefined;
  if (!duration && !(/^\d{4}-\d\d-\d\dT/.test(text) && !Number.isNaN(Date.parse(text))))
    throw new UsageError(
      `${flag} takes an ISO 8601 time such as 2025-01-31T12:00:00Z or a duration such as 2h (got "${text}")`,
    );
  return text;
}

/** A `[DEPLOYMENT/]HOST` argument or `--host` value, with `--deployment` as the other way to give the deployment. */
export function hostRef(value: string, deployment?: string): { host: string; deployment?: string } {
  const slash = value.indexOf("/");
  if (slash < 0) return { host: value, ...(deployment ? { deployment } : {}) };
  const dep = value.slice(0, slash);
  if (deployment && deployment !== dep)
    throw new UsageError(`--deployment ${deployment} and host ${value} name different deployments`);
  return { host: value.slice(slash + 1), deployment: dep };
}

/** `?deployment=` for a host reference, when it names one. */
export function hostQuery(ref: { deployment?: string }): string {
  return ref.deployment ? `?deployment=${encodeURIComponent(ref.deployment)}` : "";
}

import type { Command } from "commander";
import type { PauseInfo, ResumeResult } from "../../api/control-plane-port.js";
import { UsageError } from "../../errors.js";
import { ApiError } from "../client.js";
import {
  type CommandKit,
  type Common,
  clientCommand,
  hostRef,
  reasonOption,
  timeOption,
} from "../options.js";

interface PauseOpts extends Common {
  host?: string;
  deployment?: string;
  reason: string;
  until?: string;
}

/** The API's scope string: `--deployment D --host H` and `--host D/H` are the same host. */
export function scopeOf(opts: { host?: string; deployment?: string }): string {
  if (opts.host) {
    const ref = hostRef(opts.host, opts.deployment);
    return `host/${ref.deployment ? `${ref.deployment}/` : ""}${ref.host}`;
  }
  return opts.deployment ? `deployment/${opts.deployment}` : "global";
}

/** `pause` and `resume`. Resuming what is not paused succeeds and says so. */
export function registerPause(program: Command, kit: CommandKit): void {
  for (const verb of ["pause", "resume"] as const) {
    const cmd = clientCommand(
      program,
      verb,
      `${verb} remediation everywhere, or of one deployment (--deployment) or host (--host)`,
    )
      .option("--host <host>", "HOST or DEPLOYMENT/HOST (with --deployment: a host of that deployment)")
      .option("--deployment <name>", "one deployment");
    reasonOption(cmd);
    if (verb === "pause") cmd.option("--until <time>", "ISO time or duration (2h) until it lifts by itself");
    cmd.action(async (opts: PauseOpts) => {
      if (opts.reason.trim() === "") throw new UsageError("--reason must say why");
      const scope = scopeOf(opts);
      const body = {
        scope,
        reason: opts.reason,
        ...(verb === "pause" && opts.until ? { until: timeOption("--until", opts.until) } : {}),
      };
      try {
        const r = await kit.client(opts).post<PauseInfo | ResumeResult>(`/api/v1/${verb}`, body);
        kit.print(opts, r, () => `${verb === "pause" ? "paused" : "resumed"} ${scope}\n`);
      } catch (e) {
        // The state asked for holds already: nothing to do is success, said plainly.
        if (verb === "resume" && e instanceof ApiError && e.status === 404 && e.body.resource === "pause") {
          kit.print(opts, { resumed: null, scope }, () => `${scope} was not paused: nothing to resume\n`);
          return;
        }
        throw e;
      }
    });
  }
}

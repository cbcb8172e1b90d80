import type { Command } from "commander";
import type { CommandResult, HostGenerationsInfo, ReleaseResult } from "../../api/control-plane-port.js";
import { followJobs } from "../follow.js";
import { formatGenerations } from "../format.js";
import { type CommandKit, type Common, clientCommand, hostQuery, hostRef, outputOf } from "../options.js";

const hostPath = (host: string, deployment: string | undefined, verb: string) => {
  const ref = hostRef(host, deployment);
  return `/api/v1/hosts/${encodeURIComponent(ref.host)}/${verb}${hostQuery(ref)}`;
};

/** Generations and rollbacks: generations, rollback, release. */
export function registerGenerations(program: Command, kit: CommandKit): void {
  clientCommand(program, "generations", "the generations a host ran, their verdicts, and its hold")
    .argument("<host>", "HOST or DEPLOYMENT/HOST")
    .option("--deployment <name>", "the host's deployment (when two share the name)")
    .action(async (host: string, opts: Common & { deployment?: string }) => {
      const g = await kit
        .client(opts)
        .get<HostGenerationsInfo>(hostPath(host, opts.deployment, "generations"));
      kit.print(opts, g, (wide) => formatGenerations(g, kit.io.now(), wide));
    });

  clientCommand(program, "rollback", "switch a host back to its newest known-good generation (or --to)")
    .argument("<host>", "HOST or DEPLOYMENT/HOST")
    .option("--to <generation>", "a store path or a profile generation number")
    .option("--deployment <name>", "the host's deployment (when two share the name)")
    .option("--force", "run despite pause or maintenance")
    .option(
      "--follow",
      "stream the rollback's log until it ends; exit 0 success, 1 failed, 3 cancelled, 4 timeout",
    )
    .action(
      async (
        host: string,
        opts: Common & { to?: string; deployment?: string; force?: boolean; follow?: boolean },
      ) => {
        const api = kit.client(opts);
        const body = { force: opts.force === true, ...(opts.to !== undefined ? { to: opts.to } : {}) };
        const r = await api.post<CommandResult>(hostPath(host, opts.deployment, "rollback"), body);
        kit.print(opts, r, () => `${r.key}: job ${r.jobId} ${r.state}\n`);
        if (opts.follow) await followJobs(api, [r.jobId], kit.io, outputOf(opts) === "wide");
      },
    );

  clientCommand(program, "release", "end a host's hold after a rollback (automatic redeploys may resume)")
    .argument("<host>", "HOST or DEPLOYMENT/HOST")
    .option("--deployment <name>", "the host's deployment (when two share the name)")
    .action(async (host: string, opts: Common & { deployment?: string }) => {
      const r = await kit.client(opts).post<ReleaseResult>(hostPath(host, opts.deployment, "release"));
      kit.print(opts, r, () => `released ${r.released.deployment}/${r.released.host}\n`);
    });
}

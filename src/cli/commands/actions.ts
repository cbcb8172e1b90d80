import type { Command } from "commander";
import type {
  CommandResult,
  ReconcileResult,
  ReloadResult,
  ResetResult,
} from "../../api/control-plane-port.js";
import { ConfigError, UsageError } from "../../errors.js";
import type { HostObservation } from "../../probes/types.js";
import { ApiError } from "../client.js";
import { followJobs } from "../follow.js";
import { formatActions, formatObservation } from "../format.js";
import { type CommandKit, type Common, clientCommand, hostQuery, hostRef, outputOf } from "../options.js";

interface Forceable extends Common {
  force?: boolean;
  follow?: boolean;
}

const FOLLOW_HELP = "stream the job's log until it ends; exit 0 success, 1 failed, 3 cancelled, 4 timeout";

/** Commands that make NixGuard act: reconcile, redeploy, restart, probe, reset, reload. */
export function registerActions(program: Command, kit: CommandKit): void {
  const follow = async (opts: Forceable, jobIds: string[]) =>
    followJobs(kit.client(opts), jobIds, kit.io, outputOf(opts) === "wide");

  clientCommand(program, "reconcile", "plan now and queue what is needed")
    .argument("[deployment]", "only this deployment")
    .option("--dry-run", "show the plan, queue nothing")
    .option("--force", "run despite pause or maintenance")
    .option("--follow", FOLLOW_HELP)
    .action(async (deployment: string | undefined, opts: Forceable & { dryRun?: boolean }) => {
      const body = {
        ...(deployment ? { deployments: [deployment] } : {}),
        dryRun: opts.dryRun === true,
        force: opts.force === true,
      };
      const result = await kit.client(opts).post<ReconcileResult>("/api/v1/reconcile", body);
      kit.print(opts, result, () => formatActions(result.actions));
      if (opts.follow && !opts.dryRun)
        await follow(opts, [...new Set(result.actions.flatMap((a) => (a.jobId ? [a.jobId] : [])))]);
    });

  clientCommand(program, "redeploy", "queue a nixops4 apply of one deployment")
    .argument("<deployment>")
    .option("--force", "run despite pause or maintenance")
    .option("--follow", FOLLOW_HELP)
    .action(async (deployment: string, opts: Forceable) => {
      const r = await kit
        .client(opts)
        .post<CommandResult>(`/api/v1/deployments/${encodeURIComponent(deployment)}/redeploy`, {
          force: opts.force === true,
        });
      kit.print(opts, r, () => `${r.key}: job ${r.jobId} ${r.state}\n`);
      if (opts.follow) await follow(opts, [r.jobId]);
    });

  clientCommand(program, "restart", "queue a systemctl restart of units on one host")
    .argument("<host>", "HOST or DEPLOYMENT/HOST")
    .argument("<unit...>", "unit names (one of the host's checks)")
    .option("--deployment <name>", "the host's deployment (when two share the name)")
    .option("--force", "run despite pause or maintenance")
    .option("--follow", FOLLOW_HELP)
    .action(async (host: string, units: string[], opts: Forceable & { deployment?: string }) => {
      const ref = hostRef(host, opts.deployment);
      const api = kit.client(opts);
      const results: CommandResult[] = [];
      for (const unit of units) {
        const path = `/api/v1/hosts/${encodeURIComponent(ref.host)}/units/${encodeURIComponent(unit)}/restart${hostQuery(ref)}`;
        results.push(await api.post<CommandResult>(path, { force: opts.force === true }));
      }
      kit.print(opts, results, () => results.map((r) => `${r.key}: job ${r.jobId} ${r.state}\n`).join(""));
      if (opts.follow) await follow(opts, [...new Set(results.map((r) => r.jobId))]);
    });

  clientCommand(program, "probe", "probe one host now (outside the schedule) and show what was seen")
    .argument("<host>", "HOST or DEPLOYMENT/HOST")
    .option("--deployment <name>", "the host's deployment (when two share the name)")
    .action(async (host: string, opts: Common & { deployment?: string }) => {
      const ref = hostRef(host, opts.deployment);
      const o = await kit
        .client(opts)
        .post<HostObservation>(`/api/v1/hosts/${encodeURIComponent(ref.host)}/probe${hostQuery(ref)}`);
      kit.print(opts, o, () => formatObservation(o, kit.io.now()));
    });

  clientCommand(program, "reset", "clear quarantine, backoff and budget of a host or a deployment")
    .argument("[host]", "HOST or DEPLOYMENT/HOST")
    .option("--deployment <name>", "the deployment (alone: the whole deployment)")
    .action(async (host: string | undefined, opts: Common & { deployment?: string }) => {
      if (!host && !opts.deployment) throw new UsageError("reset needs HOST or --deployment NAME");
      const ref = host ? hostRef(host, opts.deployment) : undefined;
      const path = ref
        ? `/api/v1/hosts/${encodeURIComponent(ref.host)}/reset${hostQuery(ref)}`
        : `/api/v1/deployments/${encodeURIComponent(opts.deployment!)}/reset`;
      const what = ref
        ? `${ref.deployment ? `${ref.deployment}/` : ""}${ref.host}`
        : `deployment ${opts.deployment}`;
      const r = await kit.client(opts).post<ResetResult>(path);
      kit.print(opts, r, () =>
        r.cleared.length > 0
          ? `reset ${what}: cleared ${r.cleared.join(", ")}\n`
          : `reset ${what}: nothing to clear (no quarantine, backoff or spent budget)\n`,
      );
    });

  clientCommand(
    program,
    "reload",
    "make the daemon re-read its config file (an invalid one is refused; the old one stays)",
  ).action(async (opts: Common) => {
    try {
      const r = await kit.client(opts).post<ReloadResult>("/api/v1/config/reload");
      kit.print(opts, r, () =>
        r.ok ? `config reloaded: ${r.deployments} deployment(s), ${r.hosts} host(s)\n` : "",
      );
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 422)) throw e;
      // Exit 78 (config) with every issue, as `config check` prints them.
      throw new ConfigError(e.body.issues ?? [], "new config refused, the running one is unchanged");
    }
  });
}

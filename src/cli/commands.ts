import { type Command, Option } from "commander";
import type {
  CommandResult,
  FleetStatus,
  JobInfo,
  LogLine,
  PauseInfo,
  ReconcileResult,
  ResumeResult,
} from "../api/control-plane-port.js";
import { HOST_STATES, type HostHealth, type NixGuardEvent } from "../controller/types.js";
import { NixGuardError, UsageError } from "../errors.js";
import { type ApiClient, type ClientOptions, resolveClient } from "./client.js";
import { formatActions, formatEvents, formatHosts, formatStatus } from "./format.js";

/** Where client commands write and read their environment; tests pass their own. */
export interface ClientIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const processIo: ClientIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

interface Common extends ClientOptions {
  json?: boolean;
}

/** Options every client command takes. */
function clientCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option("--url <url>", "API base URL (default $NIXGUARD_URL or http://127.0.0.1:9273)")
    .option("--token-file <file>", "file holding the bearer token (default $NIXGUARD_TOKEN)")
    .option("--json", "print the API's JSON (for scripts)");
}

/**
 * `nixguard status|hosts|reconcile|redeploy|pause|resume|events`: the API's client side. Errors
 * are thrown (NixGuardError codes USAGE, API_UNAVAILABLE, API_ERROR); clientExitCode maps them to
 * 64 / 69 / 1.
 */
export function registerClientCommands(program: Command, io: ClientIo = processIo): void {
  const print = (opts: Common, data: unknown, human: () => string) =>
    io.stdout(opts.json ? `${JSON.stringify(data, null, 2)}\n` : human());
  const client = (opts: Common) => resolveClient(opts, io.env);

  clientCommand(
    program,
    "status",
    "mode, leader, pauses, breaker, maintenance, host and queue counts",
  ).action(async (opts: Common) => {
    const s = await client(opts).get<FleetStatus>("/api/v1/status");
    print(opts, s, () => formatStatus(s));
  });

  clientCommand(program, "hosts", "hosts and their health")
    .addOption(new Option("--state <state>", "only hosts in this state").choices(HOST_STATES))
    .option("--deployment <name>", "only hosts of this deployment")
    .action(async (opts: Common & { state?: string; deployment?: string }) => {
      const q = new URLSearchParams();
      if (opts.state) q.set("state", opts.state);
      if (opts.deployment) q.set("deployment", opts.deployment);
      const hosts = await client(opts).get<HostHealth[]>(`/api/v1/hosts${q.size ? `?${q}` : ""}`);
      print(opts, hosts, () => formatHosts(hosts));
    });

  clientCommand(program, "reconcile", "plan now and queue what is needed")
    .argument("[deployment]", "only this deployment")
    .option("--dry-run", "show the plan, queue nothing")
    .option("--force", "run despite pause or maintenance")
    .option("--follow", "stream the queued jobs' logs until they end")
    .action(
      async (
        deployment: string | undefined,
        opts: Common & { dryRun?: boolean; force?: boolean; follow?: boolean },
      ) => {
        const api = client(opts);
        const body = {
          ...(deployment ? { deployments: [deployment] } : {}),
          dryRun: opts.dryRun === true,
          force: opts.force === true,
        };
        const result = await api.post<ReconcileResult>("/api/v1/reconcile", body);
        print(opts, result, () => formatActions(result.actions));
        if (opts.follow && !opts.dryRun) {
          const jobs = [...new Set(result.actions.flatMap((a) => (a.jobId ? [a.jobId] : [])))];
          await followJobs(api, jobs, io);
        }
      },
    );

  clientCommand(program, "redeploy", "queue a nixops4 apply of one deployment")
    .argument("<deployment>")
    .option("--force", "run despite pause or maintenance")
    .option("--follow", "stream the deploy log until it ends")
    .action(async (deployment: string, opts: Common & { force?: boolean; follow?: boolean }) => {
      const api = client(opts);
      const r = await api.post<CommandResult>(
        `/api/v1/deployments/${encodeURIComponent(deployment)}/redeploy`,
        { force: opts.force === true },
      );
      print(opts, r, () => `${r.key}: job ${r.jobId} ${r.state}\n`);
      if (opts.follow) await followJobs(api, [r.jobId], io);
    });

  for (const verb of ["pause", "resume"] as const) {
    const cmd = clientCommand(program, verb, `${verb} remediation (everywhere, or one deployment or host)`)
      .option("--host <host>", "HOST or DEPLOYMENT/HOST")
      .option("--deployment <name>", "one deployment")
      .requiredOption("--reason <text>", "why (recorded in the event)");
    if (verb === "pause") cmd.option("--until <time>", "ISO time or duration (2h) until it lifts by itself");
    cmd.action(
      async (opts: Common & { host?: string; deployment?: string; reason: string; until?: string }) => {
        if (opts.host && opts.deployment) throw new UsageError("give --host or --deployment, not both");
        const scope = opts.host
          ? `host/${opts.host}`
          : opts.deployment
            ? `deployment/${opts.deployment}`
            : "global";
        const body = {
          scope,
          reason: opts.reason,
          ...(verb === "pause" && opts.until ? { until: opts.until } : {}),
        };
        const r = await client(opts).post<PauseInfo | ResumeResult>(`/api/v1/${verb}`, body);
        print(opts, r, () => `${verb === "pause" ? "paused" : "resumed"} ${scope}\n`);
      },
    );
  }

  clientCommand(program, "events", "recent events, oldest first")
    .option("--since <time>", "ISO time or duration ago (1h)")
    .option("--limit <n>", "at most this many", "50")
    .option("--deployment <name>", "only this deployment")
    .option("--host <name>", "only this host")
    .action(async (opts: Common & { since?: string; limit: string; deployment?: string; host?: string }) => {
      const q = new URLSearchParams({ limit: opts.limit });
      for (const k of ["since", "deployment", "host"] as const) if (opts[k]) q.set(k, opts[k]);
      const events = await client(opts).get<NixGuardEvent[]>(`/api/v1/events?${q}`);
      print(opts, events, () => formatEvents(events));
    });
}

/** Streams each job's log live (one after the other) and fails when any job did not succeed. */
async function followJobs(api: ApiClient, jobIds: string[], io: ClientIo): Promise<void> {
  const failed: string[] = [];
  for (const id of jobIds) {
    let end: Partial<JobInfo> | undefined;
    for await (const ev of api.events(`/api/v1/jobs/${encodeURIComponent(id)}/log?follow=1`)) {
      if (ev.event === "line") {
        const line = JSON.parse(ev.data) as LogLine;
        (line.stream === "stderr" ? io.stderr : io.stdout)(`${line.text}\n`);
      } else if (ev.event === "end") end = JSON.parse(ev.data) as Partial<JobInfo>;
      else if (ev.event === "error")
        throw new NixGuardError("API_ERROR", `job ${id}: ${JSON.parse(ev.data).message}`);
    }
    io.stderr(`job ${id}: ${end?.state ?? "stream ended"}${end?.outcome ? ` (${end.outcome})` : ""}\n`);
    if (end?.state !== "completed") failed.push(id);
  }
  if (failed.length > 0) throw new NixGuardError("API_ERROR", `job(s) ${failed.join(", ")} did not succeed`);
}

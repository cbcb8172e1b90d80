import { type Command, Option } from "commander";
import type { JobInfo, LogLine } from "../../api/control-plane-port.js";
import { EXIT, ExitError } from "../../errors.js";
import { exitCodeOfJob, followJob, printLine } from "../follow.js";
import { formatJobs } from "../format.js";
import { type CommandKit, type Common, clientCommand, intOption, outputOf } from "../options.js";

const JOB_STATES = ["waiting", "active", "delayed", "failed", "completed"];

/** `jobs` and `logs JOB [-f]`. */
export function registerJobs(program: Command, kit: CommandKit): void {
  clientCommand(program, "jobs", "action jobs (restarts, applies), newest first")
    .addOption(new Option("--state <state>", "only jobs in this state").choices(JOB_STATES))
    .option("--limit <n>", "at most this many (1-1000)", "20")
    .action(async (opts: Common & { state?: string; limit: string }) => {
      const q = new URLSearchParams({ limit: String(intOption("--limit", opts.limit, 1, 1000)) });
      if (opts.state) q.set("state", opts.state);
      const jobs = await kit.client(opts).get<JobInfo[]>(`/api/v1/jobs?${q}`);
      kit.print(opts, jobs, (wide) => formatJobs(jobs, kit.io.now(), wide));
    });

  clientCommand(
    program,
    "logs",
    "a job's output (nixops4 or systemctl); with -f follow it until the job ends and exit with its outcome",
  )
    .argument("<job>", "job id (see `nixguard jobs`)")
    .option(
      "-f, --follow",
      "stream new lines until the job ends; exit 0 success, 1 failed, 3 cancelled, 4 timeout",
    )
    .action(async (id: string, opts: Common & { follow?: boolean }) => {
      const api = kit.client(opts);
      const wide = outputOf(opts) === "wide";
      const path = `/api/v1/jobs/${encodeURIComponent(id)}`;
      if (opts.follow) {
        const end = await followJob(api, id, kit.io, wide);
        const code = exitCodeOfJob(end);
        kit.io.stderr(
          `job ${id}: ${end?.state ?? "stream ended before the job"}${end?.outcome ? ` (${end.outcome})` : ""}\n`,
        );
        if (code !== EXIT.OK) throw new ExitError("JOB_UNSUCCESSFUL", code, `job ${id} did not succeed`);
        return;
      }
      const log = await api.get<{ jobId: string; state: string; lines: LogLine[] }>(`${path}/log`);
      if (outputOf(opts) === "json") kit.print(opts, log, () => "");
      else for (const line of log.lines) printLine(kit.io, line, wide);
    });
}

import cron, { type ScheduledTask } from "node-cron";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";

export type ScheduleEntry = Config["schedule"][number];

export interface SchedulerOptions {
  schedule: () => readonly ScheduleEntry[];
  /** Runs the redeploy through the same gates as the ladder (actor `schedule`). */
  trigger: (deployment: string) => Promise<unknown>;
  logger: Logger;
}

/**
 * The seed's "something that runs nixops4 periodically": node-cron tasks that ask the controller
 * for a redeploy. Leader-only, like planning: started on gaining the lease, stopped on losing it.
 */
export class Scheduler {
  private tasks: ScheduledTask[] = [];

  constructor(private readonly opts: SchedulerOptions) {}

  start(): void {
    if (this.tasks.length > 0) return;
    this.opts.schedule().forEach((entry, i) => {
      const task = cron.schedule(entry.cron, () => this.fire(entry), {
        name: `nixguard-schedule-${i}`,
        noOverlap: true,
      });
      this.tasks.push(task);
    });
  }

  /** Cancels every task; a config reload calls stop() then start(). */
  async stop(): Promise<void> {
    const tasks = this.tasks;
    this.tasks = [];
    await Promise.all(tasks.map((t) => t.destroy()));
  }

  get size(): number {
    return this.tasks.length;
  }

  private async fire(entry: ScheduleEntry): Promise<void> {
    for (const deployment of entry.deployments) {
      try {
        await this.opts.trigger(deployment);
      } catch (err) {
        this.opts.logger.error({ err, deployment, cron: entry.cron }, "scheduled redeploy failed");
      }
    }
  }
}

import type { Logger } from "../log.js";

export interface LoopOptions {
  /** One level-triggered pass over one deployment; returns its next wake-up. */
  reconcile: (deployment: string) => Promise<{ requeueAfterMs?: number }>;
  /** Longest sleep between passes, even when nothing asks (level-triggered resync). */
  resyncMs: () => number;
  logger: Logger;
  /** Passes over different deployments at once; one deployment is never reconciled twice at once. */
  concurrency?: number;
  /** Checked before each pass: a process that lost the lease stops planning at once. */
  isLeader?: () => boolean;
  /** First retry after an error; doubles per consecutive error up to maxErrorDelayMs. */
  errorDelayMs?: number;
  maxErrorDelayMs?: number;
}

/**
 * The one place that interprets reconcile results and errors (controller-runtime's
 * reconcileHandler): requeue after the asked delay, retry errors with backoff, forget
 * deployments that no longer exist. Work items are deployment names with client-go workqueue
 * semantics: a name is queued once however often it is woken, and a name woken while its pass
 * runs is passed over again right after.
 */
export class ReconcileLoop {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly errors = new Map<string, number>();
  private readonly workers: Promise<void>[] = [];
  private readonly waiters: (() => void)[] = [];
  private running = false;
  passes = 0;

  constructor(private readonly opts: LoopOptions) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(deployments: readonly string[]): void {
    if (this.running) return;
    this.running = true;
    for (const d of deployments) this.wake(d);
    for (let i = 0; i < (this.opts.concurrency ?? 2); i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w();
    await Promise.all(this.workers.splice(0));
  }

  /** Reconcile `deployment` after `afterMs` (now by default); the earliest requested time wins. */
  wake(deployment: string, afterMs = 0): void {
    if (!this.running) return;
    if (afterMs <= 0) {
      this.enqueue(deployment);
      return;
    }
    const at = Date.now() + afterMs;
    const existing = this.timers.get(deployment);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(deployment);
      this.enqueue(deployment);
    }, afterMs);
    timer.unref?.();
    this.timers.set(deployment, { at, timer });
  }

  private enqueue(deployment: string): void {
    if (this.dirty.has(deployment)) return;
    this.dirty.add(deployment);
    // Processing: the worker re-queues it when done, so one deployment never runs twice at once.
    if (!this.processing.has(deployment)) {
      this.queue.push(deployment);
      this.waiters.shift()?.();
    }
  }

  private async next(): Promise<string | undefined> {
    while (this.running) {
      const d = this.queue.shift();
      if (d !== undefined) return d;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return undefined;
  }

  private async work(): Promise<void> {
    for (;;) {
      const deployment = await this.next();
      if (deployment === undefined) return;
      this.dirty.delete(deployment);
      this.processing.add(deployment);
      try {
        await this.pass(deployment);
      } finally {
        this.processing.delete(deployment);
        if (this.dirty.has(deployment) && this.running) {
          this.queue.push(deployment);
          this.waiters.shift()?.();
        }
      }
    }
  }

  private async pass(deployment: string): Promise<void> {
    if (this.opts.isLeader && !this.opts.isLeader()) return;
    const resync = this.opts.resyncMs();
    try {
      this.passes++;
      const result = await this.opts.reconcile(deployment);
      this.errors.delete(deployment);
      this.wake(deployment, Math.min(result.requeueAfterMs ?? resync, resync));
    } catch (err) {
      if ((err as { code?: string }).code === "NOT_FOUND") {
        // Removed by a config reload: nothing left to reconcile.
        this.errors.delete(deployment);
        return;
      }
      const n = (this.errors.get(deployment) ?? 0) + 1;
      this.errors.set(deployment, n);
      const delay = Math.min(
        (this.opts.errorDelayMs ?? 1_000) * 2 ** (n - 1),
        this.opts.maxErrorDelayMs ?? 60_000,
      );
      this.opts.logger.warn({ err, deployment, retryInMs: delay }, "reconcile failed");
      this.wake(deployment, delay);
    }
  }
}

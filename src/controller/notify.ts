import { setTimeout as sleep } from "node:timers/promises";
import { type Dispatcher, request } from "undici";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { NixGuardEvent } from "./types.js";

export type NotifyTarget = Config["notify"][number];
export type NotifyKind = NotifyTarget["events"][number];

/** Which subscription kinds an event belongs to. `deploy` is the outcome of an apply. */
export function notifyKinds(e: NixGuardEvent): NotifyKind[] {
  switch (e.kind) {
    case "quarantine":
    case "breaker":
    case "blocked":
    case "drift":
    case "unreachable":
    case "action":
      return [e.kind];
    case "outcome":
      if (e.action === "rollback") return ["action", "rollback"];
      return e.action === "redeploy" ? ["action", "deploy"] : ["action"];
    case "hold":
    case "cause":
      return ["rollback"];
    default:
      return [];
  }
}

export interface NotifierOptions {
  /** Read on every event, so a config reload takes effect at once. */
  targets: () => readonly NotifyTarget[];
  logger: Logger;
  /** Events kept per webhook while it is slow or down; the oldest are dropped beyond it. */
  backlog?: number;
  /** First retry delay; doubles each retry. */
  retryDelayMs?: number;
  dispatcher?: Dispatcher;
}

interface Pending {
  event: NixGuardEvent;
  target: NotifyTarget;
}

/**
 * Webhooks for the event kinds each subscribes to. `notify` only appends to an in-memory queue
 * per URL and returns: a slow or dead webhook never holds the controller loop. Each URL is sent
 * to in order by its own sender, with a timeout per POST and exponential retries.
 */
export class Notifier {
  private readonly queues = new Map<string, Pending[]>();
  private readonly senders = new Map<string, Promise<void>>();
  private readonly backlog: number;
  private readonly retryDelayMs: number;
  private closed = false;
  private readonly abort = new AbortController();
  readonly stats = { sent: 0, failed: 0, dropped: 0 };

  constructor(private readonly opts: NotifierOptions) {
    this.backlog = opts.backlog ?? 1_000;
    this.retryDelayMs = opts.retryDelayMs ?? 1_000;
  }

  notify(event: NixGuardEvent): void {
    if (this.closed) return;
    const kinds = notifyKinds(event);
    if (kinds.length === 0) return;
    for (const target of this.opts.targets()) {
      if (!target.events.some((k) => kinds.includes(k))) continue;
      const q = this.queues.get(target.url) ?? [];
      this.queues.set(target.url, q);
      q.push({ event, target });
      if (q.length > this.backlog) {
        q.shift();
        this.stats.dropped++;
        this.opts.logger.warn(
          { webhook: safeUrl(target.url) },
          "webhook backlog full: dropped the oldest event",
        );
      }
      if (!this.senders.has(target.url)) this.startSender(target.url);
    }
  }

  /** Resolves when every queued event was sent or given up on. */
  async flush(): Promise<void> {
    while (this.senders.size > 0) await Promise.all([...this.senders.values()]);
  }

  /** Stops retrying and drops what is queued; in-flight POSTs are aborted. */
  async close(): Promise<void> {
    this.closed = true;
    this.queues.clear();
    this.abort.abort();
    await Promise.allSettled([...this.senders.values()]);
  }

  private startSender(url: string): void {
    const run = async () => {
      const q = this.queues.get(url);
      while (q && q.length > 0 && !this.closed) {
        const item = q.shift() as Pending;
        await this.deliver(item);
      }
    };
    const p = run()
      .catch((err) => this.opts.logger.error({ err, webhook: safeUrl(url) }, "webhook sender failed"))
      .finally(() => {
        this.senders.delete(url);
        // An event may have arrived between the loop's last check and now.
        if ((this.queues.get(url)?.length ?? 0) > 0 && !this.closed) this.startSender(url);
      });
    this.senders.set(url, p);
  }

  private async deliver({ event, target }: Pending): Promise<void> {
    const body = JSON.stringify({ source: "nixguard", event });
    for (let attempt = 0; attempt <= target.retries && !this.closed; attempt++) {
      if (attempt > 0) {
        try {
          await sleep(this.retryDelayMs * 2 ** (attempt - 1), undefined, { signal: this.abort.signal });
        } catch {
          return;
        }
      }
      const result = await this.post(target, body);
      if (result === "ok") {
        this.stats.sent++;
        return;
      }
      if (result === "give-up") break;
    }
    this.stats.failed++;
    this.opts.logger.warn({ webhook: safeUrl(target.url), kind: event.kind }, "webhook delivery failed");
  }

  private async post(target: NotifyTarget, body: string): Promise<"ok" | "retry" | "give-up"> {
    try {
      const res = await request(target.url, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "user-agent": "nixguard" },
        signal: AbortSignal.any([AbortSignal.timeout(target.timeout), this.abort.signal]),
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return "ok";
      // A client error other than rate limiting will not get better by asking again.
      const retry = res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408;
      this.opts.logger.debug({ webhook: safeUrl(target.url), status: res.statusCode }, "webhook refused");
      return retry ? "retry" : "give-up";
    } catch (err) {
      this.opts.logger.debug({ err: (err as Error).message, webhook: safeUrl(target.url) }, "webhook error");
      return "retry";
    }
  }
}

/** Webhook URLs often carry a secret in the path or query: log the origin only. */
function safeUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid url)";
  }
}

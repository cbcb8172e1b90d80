import type { Redis } from "ioredis";
import type { Logger } from "../log.js";
import { writeOne } from "../redis/fence.js";
import type { EventKind, NixGuardEvent } from "./types.js";

export interface EventQuery {
  /** Epoch ms: events at or after. */
  since?: number;
  /** Most recent N matching events; default 100. */
  limit?: number;
  deployment?: string;
  host?: string;
}

export type EventListener = (e: NixGuardEvent) => void;

const FIELDS = ["kind", "deployment", "host", "action", "reason", "outcome", "jobId", "actor"] as const;
const PAGE = 500;

/**
 * Every decision, blocked action and outcome, for the API and for audits: a Redis stream capped
 * at about `maxLen` entries (XADD MAXLEN ~, which trims whole macro nodes cheaply). Listeners
 * (webhooks) hear each appended event; they must not block.
 */
export class EventLog {
  private readonly key: string;
  private readonly maxLen: number;
  private readonly listeners = new Set<EventListener>();
  private readonly logger: Logger | undefined;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    opts: { maxLen?: number; logger?: Logger } = {},
  ) {
    this.key = `${prefix}:events`;
    this.maxLen = opts.maxLen ?? 10_000;
    this.logger = opts.logger;
  }

  /** Appends and tells the listeners. Returns the stream id. */
  async append(e: NixGuardEvent): Promise<string> {
    const fields: string[] = ["time", String(e.time)];
    for (const f of FIELDS) {
      const v = e[f];
      if (v !== undefined) fields.push(f, String(v));
    }
    // Fenced inside a planning pass: a stale leader's events are refused with its other writes.
    const id = (await writeOne(this.redis, [
      "XADD",
      this.key,
      "MAXLEN",
      "~",
      String(this.maxLen),
      "*",
      ...fields,
    ])) as string;
    const stored = { ...e, id };
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch (err) {
        this.logger?.warn({ err }, "event listener threw");
      }
    }
    return id;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The newest `limit` events matching the query, oldest first. Pages backwards through the stream. */
  async list(q: EventQuery = {}): Promise<NixGuardEvent[]> {
    const limit = q.limit ?? 100;
    const out: NixGuardEvent[] = [];
    let end = "+";
    while (out.length < limit) {
      const page = (await this.redis.xrevrange(this.key, end, "-", "COUNT", PAGE)) as [string, string[]][];
      for (const [id, flat] of page) {
        const e = decode(id, flat);
        if (q.since !== undefined && e.time < q.since) return out.reverse();
        if (q.deployment !== undefined && e.deployment !== q.deployment) continue;
        if (q.host !== undefined && e.host !== q.host) continue;
        out.push(e);
        if (out.length >= limit) break;
      }
      const last = page[page.length - 1];
      if (page.length < PAGE || !last) break;
      end = `(${last[0]}`;
    }
    return out.reverse();
  }
}

function decode(id: string, flat: string[]): NixGuardEvent {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i] as string, flat[i + 1] as string);
  const e: NixGuardEvent = { id, time: Number(m.get("time")), kind: m.get("kind") as EventKind };
  for (const f of FIELDS) {
    if (f === "kind") continue;
    const v = m.get(f);
    if (v !== undefined) (e as unknown as Record<string, string>)[f] = v;
  }
  return e;
}

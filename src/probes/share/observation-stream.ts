import type { Redis } from "ioredis";
import type { HostSpec } from "../../config/desired.js";
import type { Logger } from "../../log.js";
import { probedUnitsOf } from "../systemd/companions.js";
import type { HostObservation } from "../types.js";
import { hash53 } from "./rendezvous.js";

/**
 * Observations of the hosts other members probe reach the leader through one capped Redis
 * stream: each entry carries the host key, the prober's id, the time of the probe, a fingerprint
 * of what was asked (the units and checks of the prober's config) and the observation as JSON.
 * The leader reads it from the last id it saw (plain XREAD, no consumer group: only one process
 * reads, and an entry it missed while not leading is too old to act on anyway).
 */

export const observationsKey = (prefix: string) => `${prefix}:probe:observations`;

const fingerprints = new WeakMap<HostSpec, string>();

/**
 * What a probe of this host asked: its units (with companions) and HTTP checks. An observation
 * made under a different config (a reload reached one process first) would be judged against
 * the wrong question — a unit added there "not reported by the host" — so the leader drops it.
 */
export function specFingerprint(spec: HostSpec): string {
  let f = fingerprints.get(spec);
  if (f === undefined) {
    f = hash53(JSON.stringify([probedUnitsOf(spec), spec.http.map((c) => [c.id, c.url])])).toString(36);
    fingerprints.set(spec, f);
  }
  return f;
}

/** One entry as read, its observation still JSON text: most are judged without parsing it. */
export interface StreamedObservation {
  id: string;
  key: string;
  prober: string;
  /** When the probe started (the observation's `at`, the prober's clock). */
  at: number;
  fingerprint: string;
  text: string;
}

/**
 * XADDs observations in batches: one pipeline per turn of the event loop, however many probes
 * finished in it. Capped with MAXLEN ~ (Redis trims whole nodes, cheaply).
 */
export class ObservationPublisher {
  private pending: (string | number)[][] = [];
  private flushing: Promise<void> | undefined;
  private lastWarned = 0;

  constructor(
    private readonly opts: {
      redis: Redis;
      prefix: string;
      prober: string;
      maxLen: number;
      logger: Logger;
      /** Counted per batch that reached Redis. */
      onPublished?: (n: number) => void;
    },
  ) {}

  publish(key: string, fingerprint: string, obs: HostObservation): void {
    this.pending.push([
      "h",
      key,
      "p",
      this.opts.prober,
      "t",
      obs.at,
      "f",
      fingerprint,
      "o",
      JSON.stringify(obs),
    ]);
    if (!this.flushing) this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
  }

  /** Sends what is pending (stop() awaits it). */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.flushing = undefined;
    if (batch.length === 0) return;
    const { redis, prefix, maxLen } = this.opts;
    const key = observationsKey(prefix);
    const pipe = redis.pipeline();
    for (const fields of batch) pipe.xadd(key, "MAXLEN", "~", maxLen, "*", ...fields);
    try {
      const results = (await pipe.exec()) ?? [];
      const ok = results.filter(([err]) => !err).length;
      this.opts.onPublished?.(ok);
      if (ok < batch.length) this.warn(results.find(([err]) => err)?.[0] ?? undefined);
    } catch (err) {
      this.warn(err);
    }
  }

  /** Redis down: logged once a minute at most; the leader's health ages the hosts out meanwhile. */
  private warn(err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarned < 60_000) return;
    this.lastWarned = now;
    this.opts.logger.warn(
      { err: { message: (err as Error | undefined)?.message } },
      "publishing observations failed",
    );
  }
}

/**
 * The leader's read loop: XREAD BLOCK on a connection of its own (a blocked read would hold up
 * every other command on a shared one), from `fromMs` on, each batch handed over as read.
 */
export class ObservationReader {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private lastId: string;

  constructor(
    private readonly opts: {
      connection: Redis;
      prefix: string;
      /** Entries added before this (Redis' stream ids are ms) are not read. */
      fromMs: number;
      blockMs: number;
      batch: number;
      logger: Logger;
      onEntries: (entries: StreamedObservation[]) => void;
    },
  ) {
    this.lastId = `${Math.max(0, Math.floor(opts.fromMs))}-0`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Ends the loop: the blocked read is cut by disconnecting its connection. */
  async stop(): Promise<void> {
    this.running = false;
    this.opts.connection.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { connection, prefix, blockMs, batch, logger } = this.opts;
    const key = observationsKey(prefix);
    let failures = 0;
    while (this.running) {
      try {
        const reply = (await connection.xread(
          "COUNT",
          batch,
          "BLOCK",
          blockMs,
          "STREAMS",
          key,
          this.lastId,
        )) as [string, [string, string[]][]][] | null;
        failures = 0;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        this.lastId = entries[entries.length - 1]?.[0] ?? this.lastId;
        const out: StreamedObservation[] = [];
        for (const [id, fields] of entries) {
          const e = parseEntry(id, fields);
          if (e) out.push(e);
        }
        this.opts.onEntries(out);
      } catch (err) {
        if (!this.running) return;
        if (failures++ === 0)
          logger.warn({ err: { message: (err as Error).message } }, "reading observations failed");
        // Redis is away: ioredis reconnects; try again after a pause rather than spin.
        await new Promise((r) => setTimeout(r, Math.min(1000, blockMs)));
      }
    }
  }
}

function parseEntry(id: string, fields: string[]): StreamedObservation | undefined {
  const get = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  };
  const key = get("h");
  const prober = get("p");
  const at = Number(get("t"));
  const fingerprint = get("f");
  const text = get("o");
  if (!key || !prober || !Number.isFinite(at) || fingerprint === undefined || text === undefined)
    return undefined;
  return { id, key, prober, at, fingerprint, text };
}

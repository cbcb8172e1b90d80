import type { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { Pause, QuarantineEntry } from "./policy/types.js";

/** The records behind a host's paused/quarantined/drift flags, as stored (expiry not applied). */
export interface PolicyRecords {
  readonly pauses: readonly Pause[];
  readonly quarantines: readonly QuarantineEntry[];
  /** Drifted hosts, `deployment/host` → since (ms); in Redis so a failover does not repeat their events. */
  readonly drift: Readonly<Record<string, number>>;
}

export interface PolicyMirrorDeps {
  /** One read of the three records from Redis. */
  fetch: () => Promise<PolicyRecords>;
  /** A connection of its own: once subscribed it can run nothing else. */
  subscriber: Redis;
  /** Every write of the records is announced here (StateStore publishes once the write is applied). */
  channel: string;
  logger?: Logger;
}

/**
 * The pause, quarantine and drift records kept in memory, so answering "is this host paused?"
 * costs no Redis round trip (GET /api/v1/hosts/:name is asked at thousands per second).
 *
 * No staleness window: the copy is dropped when this process writes (StateStore calls
 * `invalidate()` once its write has been applied) and when any process's write is announced on
 * `channel`. It is used only while the subscription stands; from the moment the subscriber
 * connection drops until it has subscribed again every read goes to Redis, because a notice sent
 * in that gap is lost. A read started before an invalidation is returned to its caller (it is as
 * fresh as a plain read) but never kept. Edits made behind NixGuard's back (redis-cli) are not
 * announced: they show once anything else invalidates, or after a reconnect.
 */
export class PolicyMirror {
  private cached: PolicyRecords | undefined;
  private pending: { gen: number; promise: Promise<PolicyRecords> } | undefined;
  /** Bumped by every invalidation; a fetch is kept only if the generation did not move under it. */
  private gen = 0;
  private live = false;
  private closed = false;
  private readonly onMessage = (channel: string) => {
    if (channel === this.deps.channel) this.invalidate();
  };
  private readonly onReady = () => this.subscribe();
  private readonly onDown = () => {
    this.live = false;
    this.invalidate();
  };

  constructor(private readonly deps: PolicyMirrorDeps) {
    const s = deps.subscriber;
    s.on("message", this.onMessage);
    s.on("ready", this.onReady);
    s.on("close", this.onDown);
    s.on("end", this.onDown);
    if (s.status === "ready") this.subscribe();
  }

  /** Whether reads are served from memory (the subscription stands). */
  get mirrored(): boolean {
    return this.live;
  }

  async read(): Promise<PolicyRecords> {
    if (!this.live) return this.deps.fetch();
    if (this.cached) return this.cached;
    const gen = this.gen;
    // Requests arriving together while the copy is empty share one fetch.
    if (this.pending?.gen === gen) return this.pending.promise;
    const promise = this.deps.fetch().then((records) => {
      const frozen = freeze(records);
      if (this.live && this.gen === gen) this.cached = frozen;
      return frozen;
    });
    const entry = { gen, promise };
    this.pending = entry;
    void promise
      .finally(() => {
        if (this.pending === entry) this.pending = undefined;
      })
      .catch(() => undefined);
    return promise;
  }

  invalidate(): void {
    this.gen++;
    this.cached = undefined;
  }

  /** Stops listening; the subscriber connection is the caller's to close. */
  close(): void {
    this.closed = true;
    this.live = false;
    this.invalidate();
    const s = this.deps.subscriber;
    s.off("message", this.onMessage);
    s.off("ready", this.onReady);
    s.off("close", this.onDown);
    s.off("end", this.onDown);
  }

  private subscribe(): void {
    if (this.closed) return;
    this.deps.subscriber.subscribe(this.deps.channel).then(
      () => {
        if (this.closed || this.deps.subscriber.status !== "ready") return;
        // Whatever was written before the subscription stood was never announced to us.
        this.invalidate();
        this.live = true;
      },
      (err: Error) => {
        // The connection dropped mid-subscribe; its next "ready" tries again.
        this.deps.logger?.debug({ err: { message: err.message } }, "policy mirror: subscribe failed");
      },
    );
  }
}

/** Frozen in place: a fetch's records are its own, fresh from Redis. */
function freeze(r: PolicyRecords): PolicyRecords {
  for (const p of r.pauses) Object.freeze(Object.freeze(p).scope);
  for (const q of r.quarantines) Object.freeze(q);
  Object.freeze(r.pauses);
  Object.freeze(r.quarantines);
  Object.freeze(r.drift);
  return Object.freeze(r);
}

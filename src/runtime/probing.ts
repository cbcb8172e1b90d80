import type { Redis } from "ioredis";
import type { ProbingStatus } from "../api/control-plane-port.js";
import { allHosts, type DesiredState, type HostSpec, hostKey } from "../config/desired.js";
import type { LoadedConfig } from "../config/load.js";
import { healthMaxAge } from "../controller/health-age.js";
import type { Logger } from "../log.js";
import type { Metrics, StreamResult } from "../metrics.js";
import type { ProbeScheduler } from "../probes/scheduler.js";
import { ingestBatch } from "../probes/share/ingest.js";
import { type MemberInfo, Membership, readMembership } from "../probes/share/membership.js";
import {
  ObservationPublisher,
  ObservationReader,
  type StreamedObservation,
  specFingerprint,
} from "../probes/share/observation-stream.js";
import { assign, ownerOf } from "../probes/share/rendezvous.js";
import {
  liveMembers,
  type MemberBeat,
  type ProbeScope,
  probeScope,
  ShareTracker,
} from "../probes/share/share.js";
import { sharingTimings } from "../probes/share/timing.js";
import type { HostObservation } from "../probes/types.js";

/**
 * Who probes which host (issue 22): every process with a probing role (controller or probe) is
 * a member of the probing membership in Redis and probes its rendezvous share of the hosts; the
 * leader judges its own observations directly and reads everyone else's from the observation
 * stream into the same health book. One process alone (no peer alive) probes everything while
 * it leads and nothing while it does not, its observations never leaving the process: exactly
 * what NixGuard did before probing was shared.
 */

export type Deliver = (spec: HostSpec, obs: HostObservation) => void;

export interface ProbingOptions {
  /** Joins the membership and probes its share (roles controller or probe). */
  member: boolean;
  identity: string;
  info: MemberInfo;
  redis: Redis;
  /** A fresh connection for the leader's blocking stream reads. */
  connect: () => Redis;
  prefix: string;
  config: () => LoadedConfig;
  health: {
    observe(spec: HostSpec, obs: HostObservation): unknown;
    observation(deployment: string, host: string): HostObservation | undefined;
  };
  /** A probe scheduler over `desired` whose observations go to `deliver`. */
  newScheduler: (desired: DesiredState, deliver: Deliver) => ProbeScheduler;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

const indexes = new WeakMap<DesiredState, Map<string, HostSpec>>();
function hostIndex(desired: DesiredState): Map<string, HostSpec> {
  let index = indexes.get(desired);
  if (!index) {
    index = new Map(allHosts(desired).map((h) => [hostKey(h.deployment, h.name), h]));
    indexes.set(desired, index);
  }
  return index;
}

export class Probing {
  private leading = false;
  private stopped = false;
  private scheduler: ProbeScheduler | undefined;
  /** The host keys and desired state the scheduler was last given. */
  private given: { desired: DesiredState; keys: Set<string> } | undefined;
  private readonly membership: Membership | undefined;
  private readonly tracker: ShareTracker;
  private view: { members: MemberBeat[]; live: string[]; localAt: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly publisher: ObservationPublisher;
  private reader: ObservationReader | undefined;
  /** Refreshes run one after another: each reads the latest state when it runs. */
  private chain: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly timings: { heartbeatMs: number; deadAfterMs: number };
  /** Assignment counts for status and metrics, per live set and desired state. */
  private counts: { live: string; desired: DesiredState; byMember: Map<string, number> } | undefined;

  constructor(private readonly opts: ProbingOptions) {
    this.now = opts.now ?? Date.now;
    const { probes } = opts.config().config;
    this.timings = sharingTimings(probes);
    // A host handed to a newcomer is kept for an interval and a heartbeat after the join is seen:
    // the newcomer's first probe of it comes within an interval of its start, so no cycle of the
    // host is late at a join (measured: with a grace of deadAfter, cycles up to 1.6 s late at
    // 10,000 hosts). Two members probe it meanwhile, which costs a probe and harms nothing.
    this.tracker = new ShareTracker(opts.identity, probes.interval + this.timings.heartbeatMs);
    if (opts.member)
      this.membership = new Membership({
        redis: opts.redis,
        prefix: opts.prefix,
        id: opts.identity,
        info: opts.info,
        deadAfterMs: this.timings.deadAfterMs,
      });
    this.publisher = new ObservationPublisher({
      redis: opts.redis,
      prefix: opts.prefix,
      prober: opts.identity,
      maxLen: probes.sharing.streamLength,
      logger: opts.logger,
      onPublished: (n) => opts.metrics.probeObservationsPublished.inc(n),
    });
  }

  /** Joins the membership (first heartbeat awaited, so the first decision knows the peers). */
  async start(): Promise<void> {
    if (!this.membership) return;
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.timings.heartbeatMs);
    this.timer.unref();
  }

  /** Leadership changed: the leader reads the stream and judges what it probes itself. */
  setLeading(leading: boolean): Promise<void> {
    if (this.stopped || leading === this.leading) return this.refresh();
    this.leading = leading;
    if (leading && this.membership) {
      const conn = this.opts.connect();
      // From as far back as health may be acted on (issue 18): a new leader starts with what the
      // others saw recently rather than every host unknown for an interval.
      const reader = new ObservationReader({
        connection: conn,
        prefix: this.opts.prefix,
        fromMs: this.now() - healthMaxAge(this.opts.config().config.probes),
        blockMs: 2_000,
        batch: 1_000,
        logger: this.opts.logger,
        onEntries: (entries) => this.ingest(entries),
      });
      this.reader = reader;
      reader.start();
    } else if (!leading) {
      const reader = this.reader;
      this.reader = undefined;
      void reader?.stop();
    }
    return this.refresh();
  }

  /** A config reload: the scheduler gets the new hosts (its share of them). */
  reloaded(): Promise<void> {
    return this.refresh();
  }

  /** Probe one host now: the scheduler's when it probes it, else a one-off probe. */
  async probeNow(deployment: string, host: string): Promise<HostObservation> {
    const key = hostKey(deployment, host);
    if (this.scheduler && this.given?.keys.has(key)) return this.scheduler.probeNow(deployment, host);
    const { desired } = this.opts.config();
    const only = {
      deployments: desired.deployments
        .filter((d) => d.name === deployment)
        .map((d) => ({ ...d, hosts: d.hosts.filter((h) => h.name === host) })),
    };
    // A process that does not lead keeps what it saw (its API shows it) and, when it probes for
    // the leader, publishes it too.
    const once = this.opts.newScheduler(only, (spec, obs) => {
      const shared = this.membership !== undefined && this.peers() > 0;
      this.opts.health.observe(spec, shared ? { ...obs, prober: this.opts.identity } : obs);
      if (!this.leading && shared) this.publish(spec, obs);
    });
    try {
      return await once.probeNow(deployment, host);
    } finally {
      await once.stop();
    }
  }

  /** After an action's outcome: only the leader re-probes (it alone judges). */
  async reprobe(deployment: string, host: string): Promise<void> {
    if (this.leading) await this.probeNow(deployment, host).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    const reader = this.reader;
    this.reader = undefined;
    await this.chain;
    await Promise.allSettled([reader?.stop(), this.stopScheduler()]);
    await this.publisher.flush();
    await this.membership?.leave().catch(() => undefined);
  }

  /** The membership as Redis holds it, with each live member's share (any process). */
  async status(): Promise<ProbingStatus> {
    const read = await readMembership(this.opts.redis, this.opts.prefix);
    const live = liveMembers(read.members, read.at, this.timings.deadAfterMs);
    const counts = this.countsFor(live);
    return {
      shared: live.length > 1,
      ...(this.membership ? { self: this.opts.identity } : {}),
      members: read.members.map((m) => ({
        ...read.info[m.id],
        id: m.id,
        heartbeatAt: m.heartbeatAt,
        alive: live.includes(m.id),
        hosts: counts.get(m.id) ?? 0,
      })),
    };
  }

  /** Who probes this host now, as the membership stands (undefined: nobody alive). */
  async ownerOf(deployment: string, host: string): Promise<string | undefined> {
    const read = await readMembership(this.opts.redis, this.opts.prefix);
    return ownerOf(hostKey(deployment, host), liveMembers(read.members, read.at, this.timings.deadAfterMs));
  }

  // ---- internals ----

  private peers(): number {
    return this.viewFresh() ? (this.view?.live.filter((m) => m !== this.opts.identity).length ?? 0) : 0;
  }

  private viewFresh(): boolean {
    return this.view !== undefined && this.now() - this.view.localAt <= this.timings.deadAfterMs;
  }

  private async beat(): Promise<void> {
    if (!this.membership || this.stopped) return;
    try {
      const read = await this.membership.heartbeat();
      const live = liveMembers(read.members, read.at, this.timings.deadAfterMs);
      const before = this.view?.live.join(",");
      this.view = { members: read.members, live, localAt: this.now() };
      if (before !== live.join(","))
        this.opts.logger.info({ members: live, self: this.opts.identity }, "probing members changed");
    } catch (err) {
      this.opts.logger.debug({ err: { message: (err as Error).message } }, "probing heartbeat failed");
    }
    await this.refresh();
  }

  private refresh(): Promise<void> {
    const next = this.chain
      .then(() => this.apply())
      .catch((err) => this.opts.logger.warn({ err }, "probing refresh failed"));
    this.chain = next;
    return next;
  }

  private scope(): ProbeScope {
    if (!this.membership) return this.leading ? "all" : "none";
    return probeScope({ leading: this.leading, viewFresh: this.viewFresh(), peers: this.peers() });
  }

  private async apply(): Promise<void> {
    if (this.stopped) return;
    const scope = this.scope();
    const { desired } = this.opts.config();
    this.publishMetrics(scope);
    if (scope === "none") {
      this.tracker.update([], [], this.now());
      await this.stopScheduler();
      return;
    }
    const index = hostIndex(desired);
    const keys = [...index.keys()];
    const live = scope === "all" ? [this.opts.identity] : (this.view?.live ?? [this.opts.identity]);
    const owned = this.tracker.update(keys, live, this.now());
    if (this.scheduler && this.given?.desired === desired && sameSet(this.given.keys, owned)) return;
    const mine: DesiredState =
      owned.size === index.size
        ? desired
        : {
            deployments: desired.deployments.map((d) => ({
              ...d,
              hosts: d.hosts.filter((h) => owned.has(hostKey(d.name, h.name))),
            })),
          };
    this.given = { desired, keys: owned };
    if (this.scheduler) this.scheduler.update(mine);
    else {
      this.scheduler = this.opts.newScheduler(mine, (spec, obs) => this.deliver(spec, obs));
      this.scheduler.start();
    }
    if (scope === "share")
      this.opts.logger.debug({ hosts: owned.size, of: index.size, members: live.length }, "probing a share");
  }

  private async stopScheduler(): Promise<void> {
    const scheduler = this.scheduler;
    this.scheduler = undefined;
    this.given = undefined;
    await scheduler?.stop();
  }

  /** Scheduled observations: the leader judges them; another member publishes them to it. */
  private deliver(spec: HostSpec, obs: HostObservation): void {
    if (!this.leading) this.publish(spec, obs);
    // Shared: the host detail says who probed it. Alone: the observation as it always was.
    else this.opts.health.observe(spec, this.peers() > 0 ? { ...obs, prober: this.opts.identity } : obs);
  }

  private publish(spec: HostSpec, obs: HostObservation): void {
    const signed = { ...obs, prober: this.opts.identity };
    this.publisher.publish(hostKey(spec.deployment, spec.name), specFingerprint(spec), signed);
  }

  /**
   * The leader takes the others' observations into its health book as if its own: the newest
   * per host (two members may probe a host for a moment, and entries of one batch may be out of
   * order), never one older than what it already has, never one older than the health age.
   */
  private ingest(entries: StreamedObservation[]): void {
    if (!this.leading) return;
    const { config, desired } = this.opts.config();
    const index = hostIndex(desired);
    const { health, metrics } = this.opts;
    const { accepted, counts } = ingestBatch(entries, {
      spec: (key) => index.get(key),
      oldest: this.now() - healthMaxAge(config.probes),
      lastAt: (spec) => health.observation(spec.deployment, spec.name)?.at,
    });
    for (const { spec, entry } of accepted) {
      let obs: HostObservation;
      try {
        obs = JSON.parse(entry.text) as HostObservation;
      } catch {
        counts.accepted--;
        counts.unknown++;
        continue;
      }
      if (obs.deployment !== spec.deployment || obs.host !== spec.name) {
        counts.accepted--;
        counts.unknown++;
        continue;
      }
      health.observe(spec, obs);
    }
    for (const [result, n] of Object.entries(counts) as [StreamResult, number][])
      if (n > 0) metrics.probeObservationsReceived.inc({ result }, n);
  }

  private countsFor(live: readonly string[]): Map<string, number> {
    const { desired } = this.opts.config();
    const id = live.join(",");
    if (this.counts?.live === id && this.counts.desired === desired) return this.counts.byMember;
    const byMember = new Map<string, number>();
    for (const [m, keys] of assign(hostIndex(desired).keys(), live)) byMember.set(m, keys.length);
    this.counts = { live: id, desired, byMember };
    return byMember;
  }

  private publishMetrics(scope: ProbeScope): void {
    const { probeMembers, probeHostsAssigned } = this.opts.metrics;
    const live = scope === "none" ? [] : scope === "all" ? [this.opts.identity] : (this.view?.live ?? []);
    probeMembers.set(live.length);
    probeHostsAssigned.reset();
    for (const [m, n] of this.countsFor(live)) probeHostsAssigned.set({ member: m }, n);
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}

import { allHosts, type DesiredState, type HostSpec, hostKey } from "../config/desired.js";
import { isNixGuardError, NixGuardError, ProbeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { type Abortable, Cancel } from "./cancel.js";
import { probeHttp } from "./http/probe.js";
import { formatDuration } from "./http/reason.js";
import { Limiter } from "./limiter.js";
import { probedUnitsOf } from "./systemd/companions.js";
import type { TransportBorrow, TransportLease } from "./transports/registry.js";
import type { HostFacts, HostObservation, HttpProbe, HttpResult, Transport } from "./types.js";

/**
 * Probes every host every interval. Probes return data; this module times them, feeds the metrics
 * and bounds them (blackbox_exporter's handler habit):
 * - start times spread evenly over the interval, then each host every interval ± jitter;
 * - at most `concurrency` host probes at once; a host whose previous probe still runs (or still
 *   waits for a slot) is skipped and counted `skipped`;
 * - every probe has a deadline that aborts the transport (which kills its child process) and the
 *   HTTP checks; a hung host holds one slot for at most `timeoutMs` and never delays the others.
 *
 * Metric kinds: `systemd` is the transport call, `http` one HTTP check, `host` one whole host
 * probe (transport plus checks; `skipped` is counted here).
 */
export interface ProbeSchedulerOptions {
  desired: DesiredState;
  /** Borrows a host's transport (TransportRegistry); the scheduler releases it, never closes it. */
  borrow: TransportBorrow;
  httpProbe?: HttpProbe;
  metrics: Metrics;
  logger: Logger;
  intervalMs: number;
  jitter: number;
  timeoutMs: number;
  concurrency: number;
  onObservation: (spec: HostSpec, obs: HostObservation) => void;
  now?: () => number;
}

interface Entry {
  key: string;
  spec: HostSpec;
  lease: TransportLease;
  /** The start slot this host waits for (ProbeScheduler.schedule), if any. */
  slot?: number | undefined;
  running?: Promise<HostObservation> | undefined;
  abort?: Cancel | undefined;
  removed: boolean;
  reachable?: boolean;
}

const SLOT_MS = 50;

// An HTTP probe that ignores its signal still cannot hold a host past its own timeout plus this.
const WATCHDOG_GRACE_MS = 1000;

export class ProbeScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly limiter: Limiter;
  private readonly httpProbe: HttpProbe;
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private readonly closing = new Set<Promise<void>>();
  private started = false;
  /** The start slots (schedule()): 50 ms, finer for intervals under 30 s (1/600 of them). */
  private readonly slotMs: number;
  private readonly slots = new Map<number, Entry[]>();
  private wheel: NodeJS.Timeout | undefined;
  private wheelAt = Number.POSITIVE_INFINITY;
  private turning = false;

  constructor(private readonly opts: ProbeSchedulerOptions) {
    this.limiter = new Limiter(opts.concurrency);
    this.httpProbe = opts.httpProbe ?? probeHttp;
    this.now = opts.now ?? Date.now;
    this.slotMs = Math.max(1, Math.min(SLOT_MS, Math.floor(opts.intervalMs / 600)));
    for (const spec of allHosts(opts.desired)) this.add(spec);
  }

  /** Hosts known, for status pages and tests. */
  hosts(): HostSpec[] {
    return [...this.entries.values()].map((e) => e.spec);
  }

  start(): void {
    if (this.started || this.stopping.signal.aborted) return;
    this.started = true;
    const entries = [...this.entries.values()].sort((a, b) => a.key.localeCompare(b.key));
    for (const [i, e] of entries.entries()) this.schedule(e, (this.opts.intervalMs * i) / entries.length);
  }

  /**
   * Stops timers, aborts running probes, waits for them, releases every transport. Released, not
   * closed: a restart may be running over the same ssh master (the registry closes transports).
   */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const reason = new ProbeError("PROBE_TIMEOUT", "probe scheduler stopping");
    this.stopping.abort(reason);
    clearTimeout(this.wheel);
    this.wheel = undefined;
    this.slots.clear();
    const running: Promise<unknown>[] = [];
    for (const e of this.entries.values()) {
      e.slot = undefined;
      e.abort?.abort(reason);
      if (e.running) running.push(e.running);
    }
    await Promise.allSettled(running);
    for (const e of this.entries.values()) e.lease.release();
    await Promise.allSettled([...this.closing]);
    this.entries.clear();
  }

  /** Probe one host now (the API's "probe now"); joins a probe of that host already running. */
  probeNow(deployment: string, host: string): Promise<HostObservation> {
    const e = this.entries.get(hostKey(deployment, host));
    if (!e) return Promise.reject(new NixGuardError("NOT_FOUND", `no host ${deployment}/${host}`));
    if (this.stopping.signal.aborted) {
      return Promise.reject(new NixGuardError("CONFLICT", "probe scheduler is stopped"));
    }
    return e.running ?? this.track(e, this.probe(e));
  }

  /** Config reload: add new hosts, drop removed ones (releasing their transports), update the rest. */
  update(desired: DesiredState): void {
    const next = new Map(allHosts(desired).map((h) => [hostKey(h.deployment, h.name), h]));
    for (const [key, e] of this.entries) {
      if (next.has(key)) continue;
      e.removed = true;
      e.slot = undefined;
      e.abort?.abort(new ProbeError("PROBE_TIMEOUT", `${key} removed from the configuration`));
      this.entries.delete(key);
      this.releaseLater(e, e.lease);
    }
    for (const [key, spec] of next) {
      const e = this.entries.get(key);
      if (!e) {
        const added = this.add(spec);
        if (this.started) this.schedule(added, Math.random() * this.opts.intervalMs * this.opts.jitter);
        continue;
      }
      if (JSON.stringify(e.spec.transport) !== JSON.stringify(spec.transport)) {
        this.releaseLater(e, e.lease);
        e.lease = this.opts.borrow(spec);
      }
      e.spec = spec;
    }
  }

  private add(spec: HostSpec): Entry {
    const key = hostKey(spec.deployment, spec.name);
    // Every field in the literal, set or not: fields added later go to a separate backing store.
    const e: Entry = {
      key,
      spec,
      lease: this.opts.borrow(spec),
      slot: undefined,
      running: undefined,
      abort: undefined,
      removed: false,
      reachable: undefined,
    };
    this.entries.set(key, e);
    return e;
  }

  /** Released once the probe running over it is done (the registry may then close it). */
  private releaseLater(e: Entry, lease: TransportLease): void {
    const p = Promise.allSettled([e.running])
      .then(() => lease.release())
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  /**
   * Hosts wait for their start in slots of `slotMs` on one timer (the wheel), and every host due in
   * a slot starts in the same turn, so their connections' events reach the event loop together.
   * With a timer per host at its own moment, 10,000 hosts woke the process ~1,000 times a second,
   * and each sleep and wake-up (the kernel's, and a VM's exit to its hypervisor) cost more than the
   * probe work it served: in slots of 50 ms the daemon's CPU at 10,000 hosts fell by about a
   * quarter, the simulated fleet's too (bench/scale.ts; docs/benchmarks.md). A probe starts at most
   * one slot late. Slots count on the monotonic clock: a wall-clock step delays nothing.
   */
  private schedule(e: Entry, delayMs: number): void {
    const slot = Math.ceil((performance.now() + Math.max(0, delayMs)) / this.slotMs);
    e.slot = slot;
    const waiting = this.slots.get(slot);
    if (waiting) waiting.push(e);
    else this.slots.set(slot, [e]);
    if (!this.turning && slot < this.wheelAt) this.arm(slot);
  }

  private arm(slot: number): void {
    clearTimeout(this.wheel);
    this.wheelAt = slot;
    this.wheel = setTimeout(() => this.turn(), Math.max(0, slot * this.slotMs - performance.now()));
  }

  /** Starts every host whose slot has come, then arms the wheel for the next slot that has any. */
  private turn(): void {
    this.wheel = undefined;
    this.wheelAt = Number.POSITIVE_INFINITY;
    if (this.stopping.signal.aborted) return;
    const now = Math.floor(performance.now() / this.slotMs);
    const due: [number, Entry[]][] = [];
    for (const [slot, waiting] of this.slots) if (slot <= now) due.push([slot, waiting]);
    this.turning = true;
    try {
      for (const [slot, waiting] of due) {
        this.slots.delete(slot);
        // A host rescheduled or removed since it was put in this slot is no longer waiting here.
        for (const e of waiting) if (e.slot === slot && !e.removed) this.tick(e);
      }
    } finally {
      this.turning = false;
    }
    let next = Number.POSITIVE_INFINITY;
    for (const slot of this.slots.keys()) if (slot < next) next = slot;
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  private nextDelay(): number {
    const { intervalMs, jitter } = this.opts;
    return intervalMs * (1 + jitter * (2 * Math.random() - 1));
  }

  private tick(e: Entry): void {
    e.slot = undefined;
    if (e.removed || this.stopping.signal.aborted) return;
    // Fixed rate from the tick, not from the probe's end: a slow host does not drift.
    this.schedule(e, this.nextDelay());
    if (e.running) {
      this.opts.metrics.probesTotal.inc({ deployment: e.spec.deployment, kind: "host", result: "skipped" });
      this.opts.logger.debug({ host: e.key }, "previous probe still running: skipped");
      return;
    }
    const queued = this.limiter.acquire(this.stopping.signal).then(async (release) => {
      try {
        return await this.probe(e);
      } finally {
        release();
      }
    });
    this.track(e, queued).catch(() => {
      // Rejected only when stopping while waiting for a slot.
    });
  }

  private track(e: Entry, p: Promise<HostObservation>): Promise<HostObservation> {
    const tracked = p.finally(() => {
      if (e.running === tracked) e.running = undefined;
    });
    e.running = tracked;
    return tracked;
  }

  private async probe(e: Entry): Promise<HostObservation> {
    const { spec } = e;
    const { transport } = e.lease;
    const { metrics, timeoutMs } = this.opts;
    const at = this.now();
    const t0 = performance.now();
    // Cancelled when the host is removed or the scheduler stops (both abort `e.abort` directly: a
    // listener per probe on the scheduler-long `stopping` signal was the rest of this cost); the
    // deadline bounds the transport. Both live only as long as this probe, so the link between
    // them is never undone.
    const cancel = new Cancel();
    e.abort = cancel;
    if (this.stopping.signal.aborted) cancel.abort(this.stopping.signal.reason);
    const deadline = cancel.child();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new ProbeError("PROBE_TIMEOUT", `${e.key}: no answer after ${formatDuration(timeoutMs)}`),
        ),
      timeoutMs,
    );
    try {
      const [systemd, http] = await Promise.all([
        this.fetch(transport, spec, deadline),
        Promise.all(spec.http.map((c) => this.http(spec.deployment, c, cancel))),
      ]);
      const obs: HostObservation = {
        deployment: spec.deployment,
        host: spec.name,
        at,
        durationMs: performance.now() - t0,
        reachable: systemd.facts !== undefined,
        http,
        ...(systemd.facts ? { facts: systemd.facts } : {}),
        ...(systemd.error ? { error: systemd.error } : {}),
      };
      const result = obs.reachable ? "ok" : systemd.error?.code === "PROBE_TIMEOUT" ? "timeout" : "error";
      const { deployment } = spec;
      metrics.probesTotal.inc({ deployment, kind: "host", result });
      metrics.probeDuration.observe({ deployment, kind: "host" }, obs.durationMs / 1000);
      // A reload that changed the host's spec meanwhile (units, checks) makes this observation
      // the answer to another question: judged against the new spec, a unit added by the reload
      // would count as "not reported by the host". The next probe asks the new one.
      if (!e.removed && e.spec === spec && !this.stopping.signal.aborted) this.deliver(e, obs);
      return obs;
    } finally {
      clearTimeout(timer);
      if (e.abort === cancel) e.abort = undefined;
    }
  }

  private async fetch(
    transport: Transport,
    spec: HostSpec,
    signal: Abortable,
  ): Promise<{ facts?: HostFacts; error?: { code: string; message: string } }> {
    const t0 = performance.now();
    let outcome: { facts?: HostFacts; error?: { code: string; message: string } };
    try {
      const facts = await raceAbort(transport.fetch(probedUnitsOf(spec), signal), signal);
      outcome = { facts };
    } catch (err) {
      const code = signal.aborted ? "PROBE_TIMEOUT" : isNixGuardError(err) ? err.code : "PROBE_UNREACHABLE";
      const message =
        signal.aborted && isNixGuardError(signal.reason) ? signal.reason.message : errMessage(err);
      outcome = { error: { code, message } };
    }
    const result = outcome.facts ? "ok" : outcome.error?.code === "PROBE_TIMEOUT" ? "timeout" : "error";
    const { deployment } = spec;
    this.opts.metrics.probesTotal.inc({ deployment, kind: "systemd", result });
    this.opts.metrics.probeDuration.observe({ deployment, kind: "systemd" }, (performance.now() - t0) / 1000);
    return outcome;
  }

  /**
   * One HTTP check, bounded here whatever the probe does: a probe that ignores its own timeout is
   * answered `timeout` after it plus a grace, and cancellation (host removed, scheduler stopping)
   * answers at once. A timer and one listener, no controller of its own: per check at 10,000
   * hosts, each controller, link and race was a steady share of the probe path's CPU.
   */
  private http(deployment: string, check: HostSpec["http"][number], signal: Abortable): Promise<HttpResult> {
    const t0 = performance.now();
    const timedOut = (): HttpResult => ({
      check: check.id,
      ok: false,
      result: "timeout",
      durationMs: performance.now() - t0,
      reason: `timeout after ${formatDuration(check.timeoutMs)}`,
    });
    return new Promise<HttpResult>((resolve) => {
      let done = false;
      const settle = (r: HttpResult) => {
        if (done) return;
        done = true;
        clearTimeout(watchdog);
        signal.removeEventListener("abort", settleCancelled);
        this.opts.metrics.probesTotal.inc({ deployment, kind: "http", result: r.result });
        this.opts.metrics.probeDuration.observe({ deployment, kind: "http" }, r.durationMs / 1000);
        resolve(r);
      };
      const settleCancelled = () => settle(timedOut());
      const watchdog = setTimeout(settleCancelled, check.timeoutMs + WATCHDOG_GRACE_MS);
      if (signal.aborted) {
        settleCancelled();
        return;
      }
      signal.addEventListener("abort", settleCancelled, { once: true });
      const failed = (err: unknown) =>
        settle({
          check: check.id,
          ok: false,
          result: "error",
          durationMs: performance.now() - t0,
          reason: errMessage(err),
        });
      try {
        this.httpProbe(check, signal).then(settle, failed);
      } catch (err) {
        failed(err);
      }
    });
  }

  private deliver(e: Entry, obs: HostObservation): void {
    if (e.reachable !== obs.reachable) {
      if (obs.reachable) this.opts.logger.info({ host: e.key }, "host reachable");
      else this.opts.logger.warn({ host: e.key, error: obs.error }, "host unreachable");
      e.reachable = obs.reachable;
    }
    try {
      this.opts.onObservation(e.spec, obs);
    } catch (err) {
      this.opts.logger.error({ host: e.key, err }, "observation handler failed");
    }
  }
}

const errMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Settles when `p` does or when `signal` aborts, whichever is first: a buggy probe cannot hang us. */
function raceAbort<T>(p: Promise<T>, signal: Abortable): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

import { afterEach, describe, expect, it } from "vitest";
import type { DesiredState, HostSpec } from "../../../src/config/desired.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics, type Metrics } from "../../../src/metrics.js";
import { ProbeScheduler, type ProbeSchedulerOptions } from "../../../src/probes/scheduler.js";
import type { HostFacts, HostObservation, HttpProbe, Transport } from "../../../src/probes/types.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function host(name: string, extra: Partial<HostSpec> = {}): HostSpec {
  return {
    deployment: "d",
    name,
    address: `${name}.example.org`,
    target: "d",
    ownTarget: false,
    services: [],
    transport: { kind: "local" },
    units: [{ id: "a.service", unit: "a.service", oneshot: false }],
    http: [],
    ...extra,
  };
}

const desired = (...hosts: HostSpec[]): DesiredState => ({
  deployments: [{ name: "d", flake: "/srv/d", target: "d", hosts }],
});

const FACTS: HostFacts = { units: {}, disks: [] };

/** An in-memory transport: each fetch takes `delayMs` (Infinity = hangs, ignoring its signal). */
class FakeTransport implements Transport {
  readonly kind = "local" as const;
  readonly canRestart = true;
  calls = 0;
  active = 0;
  maxActive = 0;
  closed = false;
  released = false;
  constructor(
    private readonly delayMs: () => number,
    private readonly probes: { active: number; max: number },
  ) {}
  async fetch(): Promise<HostFacts> {
    this.calls++;
    this.active++;
    this.probes.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.probes.max = Math.max(this.probes.max, this.probes.active);
    try {
      const d = this.delayMs();
      await (Number.isFinite(d) ? sleep(d) : new Promise(() => {}));
      return FACTS;
    } finally {
      this.active--;
      this.probes.active--;
    }
  }
  async restart(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

let scheduler: ProbeScheduler | undefined;
afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
});

function setup(
  hosts: HostSpec[],
  delay: (h: HostSpec) => number,
  over: Partial<ProbeSchedulerOptions> = {},
): {
  s: ProbeScheduler;
  transports: Map<string, FakeTransport[]>;
  observations: HostObservation[];
  metrics: Metrics;
  global: { active: number; max: number };
} {
  const transports = new Map<string, FakeTransport[]>();
  const observations: HostObservation[] = [];
  const metrics = createMetrics({ version: "t", processMetrics: false });
  const global = { active: 0, max: 0 };
  const s = new ProbeScheduler({
    desired: desired(...hosts),
    borrow: (h) => {
      const t = new FakeTransport(() => delay(h), global);
      transports.set(h.name, [...(transports.get(h.name) ?? []), t]);
      return {
        transport: t,
        release: () => {
          t.released = true;
        },
      };
    },
    metrics,
    logger: silentLogger(),
    intervalMs: 100,
    jitter: 0.1,
    timeoutMs: 1000,
    concurrency: 64,
    onObservation: (_, o) => observations.push(o),
    ...over,
  });
  scheduler = s;
  return { s, transports, observations, metrics, global };
}

async function counter(m: Metrics, kind: string, result: string): Promise<number> {
  const v = (await m.probesTotal.get()).values.find(
    (x) => x.labels.deployment === "d" && x.labels.kind === kind && x.labels.result === result,
  );
  return v?.value ?? 0;
}

describe("ProbeScheduler", () => {
  it("probes every host every interval and counts the probes", async () => {
    const { s, observations, metrics } = setup([host("a"), host("b"), host("c")], () => 1);
    s.start();
    await sleep(350);
    for (const name of ["a", "b", "c"]) {
      const n = observations.filter((o) => o.host === name).length;
      expect(n, name).toBeGreaterThanOrEqual(3);
      expect(n, name).toBeLessThanOrEqual(5);
    }
    expect(observations.every((o) => o.reachable)).toBe(true);
    expect(await counter(metrics, "systemd", "ok")).toBe(observations.length);
    expect(await counter(metrics, "host", "ok")).toBe(observations.length);
  });

  it("spreads the first probes over the interval", async () => {
    const starts: number[] = [];
    const { s } = setup([host("a"), host("b"), host("c"), host("d")], () => 1, {
      intervalMs: 400,
      onObservation: (_, o) => starts.push(o.at),
    });
    const t0 = Date.now();
    s.start();
    await sleep(390);
    const offsets = starts.slice(0, 4).map((t) => t - t0);
    expect(offsets).toHaveLength(4);
    expect(offsets[3]! - offsets[0]!).toBeGreaterThanOrEqual(250);
  });

  it("starts hosts due within one 50 ms slot together, at a 30 s interval", async () => {
    // 6,000 hosts spread over 30 s are due every 5 ms; in slots of 50 ms they start ten at a time.
    const hosts = Array.from({ length: 6000 }, (_, i) => host(`h${i}`));
    const starts: number[] = [];
    const { s } = setup(hosts, () => 1, {
      intervalMs: 30_000,
      now: () => performance.now(),
      onObservation: (_, o) => starts.push(o.at),
    });
    s.start();
    await sleep(1000);
    await s.stop();
    // Past the first 200 ms: setting 6,000 hosts up at start() holds up the first slots.
    const settled = starts.filter((t) => t >= Math.min(...starts) + 200).sort((x, y) => x - y);
    expect(settled.length).toBeGreaterThanOrEqual(100);
    // Starts come in bursts (< 3 ms between starts inside one; hosts are due 5 ms apart), bursts
    // about a slot apart.
    const bursts: number[][] = [];
    for (const t of settled) {
      const last = bursts.at(-1);
      if (last && t - (last.at(-1) as number) < 3) last.push(t);
      else bursts.push([t]);
    }
    expect(bursts.length).toBeGreaterThanOrEqual(10);
    expect(settled.length / bursts.length).toBeGreaterThanOrEqual(5);
    // Typically one slot apart. Not every gap: a slot whose timer fires late on a busy machine
    // (this VM stalls > 5 ms about twice a second) sits closer to the next one.
    const gaps = bursts
      .slice(1)
      .map((b, i) => (b[0] as number) - (bursts[i]![0] as number))
      .sort((x, y) => x - y);
    const median = gaps[Math.floor(gaps.length / 2)] as number;
    expect(median).toBeGreaterThanOrEqual(40);
    expect(median).toBeLessThanOrEqual(60);
  });

  it("skips a host whose previous probe still runs, and counts it", async () => {
    const { s, transports, metrics } = setup([host("slow")], () => 250);
    s.start();
    await sleep(600);
    const t = transports.get("slow")![0]!;
    expect(t.maxActive).toBe(1);
    expect(await counter(metrics, "host", "skipped")).toBeGreaterThanOrEqual(2);
  });

  it("never runs more probes at once than the concurrency limit", async () => {
    const hosts = ["a", "b", "c", "d", "e", "f"].map((n) => host(n));
    const { s, global, observations } = setup(hosts, () => 60, { concurrency: 2, intervalMs: 50 });
    s.start();
    await sleep(400);
    expect(global.max).toBe(2);
    expect(observations.length).toBeGreaterThan(4);
  });

  it("times out a hung host without delaying the others", async () => {
    const { s, observations, metrics } = setup(
      [host("hung"), host("ok")],
      (h) => (h.name === "hung" ? Infinity : 1),
      {
        timeoutMs: 150,
        concurrency: 1,
      },
    );
    s.start();
    await sleep(450);
    const hung = observations.filter((o) => o.host === "hung");
    expect(hung.length).toBeGreaterThanOrEqual(1);
    expect(hung[0]).toMatchObject({ reachable: false, error: { code: "PROBE_TIMEOUT" } });
    expect(hung[0]!.durationMs).toBeLessThan(300);
    expect(observations.filter((o) => o.host === "ok").length).toBeGreaterThanOrEqual(2);
    expect(await counter(metrics, "systemd", "timeout")).toBe(hung.length);
  });

  it("runs HTTP checks alongside and turns a hanging HTTP probe into a timeout", async () => {
    const check = {
      id: "http:x",
      name: "x",
      url: "http://127.0.0.1:1/",
      method: "GET" as const,
      expectStatus: [200],
      timeoutMs: 100,
      followRedirects: false,
      tlsVerify: true,
      units: [],
    };
    const hanging: HttpProbe = () => new Promise(() => {});
    const { s } = setup([host("a", { http: [check] })], () => 1, { httpProbe: hanging });
    const o = await s.probeNow("d", "a");
    expect(o.http).toEqual([
      expect.objectContaining({ check: "http:x", result: "timeout", reason: "timeout after 100 ms" }),
    ]);
  });

  it("probeNow probes at once, joins a running probe, and refuses unknown hosts", async () => {
    const { s, transports } = setup([host("a")], () => 50);
    const [x, y] = await Promise.all([s.probeNow("d", "a"), s.probeNow("d", "a")]);
    expect(x).toBe(y);
    expect(transports.get("a")![0]!.calls).toBe(1);
    await expect(s.probeNow("d", "nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("update adds and removes hosts without restarting, releasing removed transports", async () => {
    const { s, transports, observations } = setup([host("a"), host("b")], () => 1);
    s.start();
    await sleep(150);
    s.update(desired(host("a"), host("c")));
    const seenBefore = observations.length;
    await sleep(250);
    const later = observations.slice(seenBefore);
    expect(later.some((o) => o.host === "c")).toBe(true);
    expect(later.some((o) => o.host === "b")).toBe(false);
    expect(transports.get("b")![0]!.released).toBe(true);
    expect(s.hosts().map((h) => h.name)).toEqual(["a", "c"]);
    // A changed transport spec gets a new transport; the old one is released.
    s.update(
      desired(
        host("a", { transport: { kind: "exporter", url: "http://127.0.0.1:9100/metrics" } }),
        host("c"),
      ),
    );
    await sleep(20);
    expect(transports.get("a")).toHaveLength(2);
    expect(transports.get("a")![0]!.released).toBe(true);
  });

  it("a probe that ran with a spec a reload replaced is not delivered (judged against the wrong units)", async () => {
    const delivered: [string[], HostObservation][] = [];
    const { s } = setup([host("a")], () => 80, {
      onObservation: (spec, o) => delivered.push([spec.units.map((u) => u.id), o]),
    });
    const running = s.probeNow("d", "a");
    await sleep(20);
    const twoUnits = [
      { id: "a.service", unit: "a.service", oneshot: false },
      { id: "b.service", unit: "b.service", oneshot: false },
    ];
    s.update(desired(host("a", { units: twoUnits })));
    await running;
    expect(delivered).toEqual([]);
    await s.probeNow("d", "a");
    expect(delivered.map(([units]) => units)).toEqual([["a.service", "b.service"]]);
  });

  it("stop leaves no timers and releases every transport, closing none (the registry owns them)", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const { s, transports } = setup(
      [host("a"), host("b"), host("hung")],
      (h) => (h.name === "hung" ? Infinity : 5),
      {
        timeoutMs: 5000,
      },
    );
    s.start();
    await sleep(120);
    await s.stop();
    expect(timers()).toBeLessThanOrEqual(before);
    for (const [, ts] of transports)
      for (const t of ts) expect([t.released, t.closed]).toEqual([true, false]);
    await expect(s.probeNow("d", "a")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

/**
 * The transport registry (issue 18, item 1): users borrow and release, only the registry closes.
 * The transports here are real ExporterTransports against a local node_exporter page: closing one
 * drops its agent for good ("transport closed"), which is what a restart or a stopping scheduler
 * did to the transport everyone shared.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { ProbeScheduler } from "../../../src/probes/scheduler.js";
import { createTransport } from "../../../src/probes/transports/index.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";

const page = readFileSync(
  new URL("../../fixtures/systemctl/node_exporter/metrics.txt", import.meta.url),
  "utf8",
);
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_req, res) => res.end(page));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const host = (name: string, path = "/metrics"): HostSpec => ({
  deployment: "d",
  name,
  address: "127.0.0.1",
  target: "d",
  ownTarget: false,
  services: [],
  transport: { kind: "exporter", url: url.replace("/metrics", path) },
  units: [{ id: "mastodon-web.service", unit: "mastodon-web.service", oneshot: false }],
  http: [],
});

const registry = () => new TransportRegistry((h) => createTransport(h, { runtimeDir: "/tmp" }));
const fetchOk = (t: { fetch: (u: string[], s: AbortSignal) => Promise<unknown> }) =>
  t.fetch(["mastodon-web.service"], AbortSignal.timeout(5000)).then(
    () => "ok",
    (e: Error) => e.message,
  );

describe("TransportRegistry", () => {
  it("one transport per host, shared by every borrower; releasing closes nothing", async () => {
    const r = registry();
    const a = r.borrow(host("a"));
    const b = r.borrow(host("a"));
    expect(b.transport).toBe(a.transport);
    expect(r.leases(host("a"))).toBe(2);
    b.release();
    b.release(); // twice counts once
    a.release();
    expect(await fetchOk(r.borrow(host("a")).transport)).toBe("ok");
    await r.close();
  });

  it("the probe scheduler stopping does not close a transport a restart still holds", async () => {
    const r = registry();
    const restart = r.borrow(host("a"));
    const s = new ProbeScheduler({
      desired: { deployments: [{ name: "d", flake: "/srv/d", target: "d", hosts: [host("a")] }] },
      borrow: (h) => r.borrow(h),
      metrics: createMetrics({ version: "t", processMetrics: false }),
      logger: silentLogger(),
      intervalMs: 60_000,
      jitter: 0,
      timeoutMs: 2_000,
      concurrency: 4,
      onObservation: () => {},
    });
    expect((await s.probeNow("d", "a")).reachable).toBe(true);
    await s.stop();
    expect(await fetchOk(restart.transport)).toBe("ok");
    restart.release();
    await r.close();
  });

  it("a reload that changes a host's transport retires the old one: closed when its last lease goes", async () => {
    const r = registry();
    const old = r.borrow(host("a"));
    r.retain([host("a", "/metrics?v=2")]);
    // still usable by whoever holds it (a probe or restart under way)
    expect(await fetchOk(old.transport)).toBe("ok");
    const fresh = r.borrow(host("a", "/metrics?v=2"));
    expect(fresh.transport).not.toBe(old.transport);
    old.release();
    await new Promise((res) => setTimeout(res, 10));
    expect(await fetchOk(old.transport)).toContain("transport closed");
    expect(await fetchOk(fresh.transport)).toBe("ok");
    fresh.release();
    await r.close();
    expect(await fetchOk(fresh.transport)).toContain("transport closed");
  });
});

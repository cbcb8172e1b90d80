import { describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import type { HostObservation, UnitState } from "../../../src/probes/types.js";
import { HealthBook } from "../../../src/runtime/health-book.js";
import { fleetConfig } from "../controller/fixtures.js";

const unit = (id: string, activeState: string): UnitState => ({
  id,
  loadState: "loaded",
  activeState,
  subState: activeState === "active" ? "running" : "failed",
  result: activeState === "failed" ? "failed" : "success",
  nRestarts: 0,
  type: "simple",
});

function setup() {
  return setupWith(fleetConfig());
}

function setupWith(loaded: ReturnType<typeof fleetConfig>) {
  const config = {
    ...loaded.config,
    probes: { ...loaded.config.probes, failureThreshold: 1, successThreshold: 1 },
  };
  const metrics = createMetrics({ version: "test", processMetrics: false });
  const book = new HealthBook({
    getConfig: () => config,
    metrics,
    logger: silentLogger(),
    isSuppressed: () => false,
    onHealth: () => {},
  });
  const spec = loaded.desired.deployments[0]!.hosts.find((h) => h.name === "mastodon") as HostSpec;
  let at = 0;
  const observe = (web: string, http: { ok: boolean; tls?: number }, s: HostSpec = spec) => {
    const obs: HostObservation = {
      deployment: "fedi",
      host: "mastodon",
      at: ++at,
      durationMs: 1,
      reachable: true,
      facts: { units: { "mastodon-web.service": unit("mastodon-web.service", web) }, disks: [] },
      http: [
        {
          check: s.http[0]!.id,
          ok: http.ok,
          result: http.ok ? "ok" : "fail",
          durationMs: 1,
          reason: http.ok ? "200" : "502",
          ...(http.tls !== undefined ? { tlsExpiresAt: http.tls } : {}),
        },
      ],
    };
    return book.observe(s, obs);
  };
  const series = async () => {
    const text = await metrics.registry.metrics();
    return text
      .split("\n")
      .filter(
        (l) =>
          /^nixguard_(check_up|host_up|http_tls_expiry_timestamp_seconds)/.test(l) &&
          l.includes('host="mastodon"'),
      )
      .sort();
  };
  const metricsText = () => metrics.registry.metrics();
  return { book: Object.assign(book, { metricsText }), spec, observe, series };
}

describe("HealthBook gauges", () => {
  it("follow every change of a check, a TLS expiry and the host, whether or not the probe before changed anything", async () => {
    const { observe, series } = setup();
    observe("active", { ok: true });
    const healthy = await series();
    expect(healthy.filter((l) => l.endsWith(" 1")).length).toBe(3); // 2 checks + host
    observe("active", { ok: true }); // nothing changed
    expect(await series()).toEqual(healthy);

    observe("failed", { ok: true });
    const failing = await series();
    expect(failing).toContain('nixguard_host_up{deployment="fedi",host="mastodon"} 0');
    expect(failing.filter((l) => l.startsWith("nixguard_check_up") && l.endsWith(" 0")).length).toBe(1);
    observe("failed", { ok: true });
    expect(await series()).toEqual(failing);

    observe("active", { ok: true, tls: 2_000_000 });
    expect(
      (await series()).some((l) => l.startsWith("nixguard_http_tls_expiry") && l.endsWith(" 2000")),
    ).toBe(true);
    observe("active", { ok: true, tls: 3_000_000 });
    expect(
      (await series()).some((l) => l.startsWith("nixguard_http_tls_expiry") && l.endsWith(" 3000")),
    ).toBe(true);
    observe("active", { ok: true, tls: 3_000_000 });
    expect(await series()).toEqual(await series());
    expect((await series()).filter((l) => l.endsWith(" 1")).length).toBe(3);
  });

  it("follows a host whose spec a reload replaced: the new check's series, none left of the old", async () => {
    const { observe, series, spec } = setup();
    observe("active", { ok: true });
    const before = await series();
    // A renamed unit check: same health otherwise, new series for the new check id.
    const renamed: HostSpec = {
      ...spec,
      units: spec.units.map((u) => ({ ...u, id: `${u.id}-renamed` })),
    };
    observe("active", { ok: true }, renamed);
    const after = await series();
    expect(after.length).toBe(before.length);
    const oldId = spec.units[0]!.id;
    expect(after.some((l) => l.includes(`check="${oldId}-renamed"`))).toBe(true);
    expect(after.some((l) => l.includes(`check="${oldId}"`))).toBe(false);
    expect(before.some((l) => l.includes(`check="${oldId}"`))).toBe(true);
  });

  it("counts hosts per state as their health changes, and forgets removed hosts", async () => {
    const loaded = fleetConfig();
    const { book, observe } = setupWith(loaded);
    const hosts = async () => {
      const text = await book.metricsText();
      return Object.fromEntries(
        text
          .split("\n")
          .filter((l) => l.startsWith("nixguard_hosts{"))
          .map((l) => [/state="(\w+)"/.exec(l)?.[1], Number(l.split(" ")[1])]),
      );
    };
    observe("active", { ok: true });
    book.retain(loaded.desired); // publishes at once
    expect(await hosts()).toEqual({ healthy: 1, degraded: 0, failing: 0, unreachable: 0, unknown: 0 });
    observe("failed", { ok: true });
    observe("failed", { ok: true });
    book.retain(loaded.desired);
    expect(await hosts()).toMatchObject({ healthy: 0, failing: 1 });
    expect(await book.metricsText()).toContain('nixguard_host_up{deployment="fedi",host="mastodon"} 0');
    expect(await book.metricsText()).toContain('nixguard_hosts{deployment="fedi",state="failing"} 1');
    // A removed deployment's counts go with it (they are per deployment: issue 19).
    book.retain({ deployments: [] });
    expect(await hosts()).toEqual({});
    // A removed host's per-host series are gone with it.
    expect(await book.metricsText()).not.toMatch(/nixguard_(host|check)_up\{/);
    book.close();
  });
});

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startPrometheus, type TestPrometheus } from "../../helpers/prometheus.js";
import { type SeriesRows, seriesOf } from "../../helpers/series.js";
import { type Listening, listen } from "./server.js";

/** A real Prometheus scrapes a listening NixGuard API; we read the series back through its HTTP API. */
let api: Listening;
let prom: TestPrometheus;
const hostRows: SeriesRows = [
  [["fedi", "garage"], 1],
  [["fedi", "mastodon"], 0],
];
const ALERTS = resolve("contrib/prometheus/alerts.yml");

beforeAll(async () => {
  api = await listen();
  // The per-host gauges are computed at each scrape; here from tables this test changes.
  api.metrics.hostUp.from(seriesOf(hostRows));
  api.metrics.checkUp.from(seriesOf([[["fedi", "mastodon", "mastodon-web.service"], 0]]));
  prom = await startPrometheus({
    targets: [new URL(api.url).host],
    scrapeInterval: "1s",
    ruleFiles: [ALERTS],
  });
}, 40_000);

afterAll(async () => {
  await prom?.stop();
  await api?.close();
});

test("Prometheus scrapes /metrics: up is 1 and nixguard_host_up carries each host", async () => {
  const up = await prom.waitFor('up{job="nixguard"}', (r) => r.length === 1 && r[0]!.value[1] === "1");
  expect(up[0]!.metric.instance).toBe(new URL(api.url).host);
  const hosts = await prom.waitFor("nixguard_host_up", (r) => r.length === 2);
  const byHost = Object.fromEntries(hosts.map((s) => [s.metric.host, s.value[1]]));
  expect(byHost).toEqual({ garage: "1", mastodon: "0" });

  // A change in NixGuard shows up in Prometheus on the next scrape.
  hostRows[1] = [["fedi", "mastodon"], 1];
  await prom.waitFor('nixguard_host_up{host="mastodon"}', (r) => r[0]?.value[1] === "1");
});

test("Prometheus loads contrib/prometheus/alerts.yml: every rule healthy", async () => {
  const data = await prom.get<{ groups: { rules: { name: string; health: string }[] }[] }>("/api/v1/rules");
  await prom.waitFor("up", () => true); // at least one evaluation has happened by now
  const rules = data.groups.flatMap((g) => g.rules);
  expect(rules.map((r) => r.name).sort()).toEqual([
    "CircuitBreakerOpen",
    "DeployFailing",
    "HostDrift",
    "HostUnhealthy",
    "HostUnreachable",
    "NixGuardDown",
    "NixGuardNoLeader",
    "QueueStuck",
    "RemediationQuarantined",
    "TLSCertExpiringSoon",
  ]);
  const again = await prom.get<{
    groups: { rules: { name: string; health: string; lastError?: string }[] }[];
  }>("/api/v1/rules");
  for (const r of again.groups.flatMap((g) => g.rules))
    expect(r.health, `${r.name} ${r.lastError ?? ""}`).not.toBe("err");
});

test("every Grafana panel query is valid PromQL against real NixGuard series", async () => {
  const dash = JSON.parse(readFileSync("contrib/grafana/nixguard.json", "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
  expect(exprs.length).toBeGreaterThanOrEqual(15);
  for (const { title, expr } of exprs) {
    const concrete = expr.replaceAll("$__rate_interval", "1m").replaceAll("$deployment", ".*");
    await expect(prom.query(concrete), title).resolves.toBeDefined();
  }
  // The failing-checks table finds the failing check.
  const failing = await prom.waitFor(
    'max by (deployment, host, check) (nixguard_check_up{deployment=~".*"}) == 0',
    (r) => r.length === 1,
  );
  expect(failing[0]!.metric).toEqual({ deployment: "fedi", host: "mastodon", check: "mastodon-web.service" });
});

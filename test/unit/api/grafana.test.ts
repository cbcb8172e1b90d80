import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { createMetrics } from "../../../src/metrics.js";

// Grafana's variable syntax, not a JS template.
const DATASOURCE = ["$", "{datasource}"].join("");
const dash = JSON.parse(readFileSync("contrib/grafana/nixguard.json", "utf8")) as {
  templating: { list: { name: string; type: string; query: unknown }[] };
  panels: {
    title: string;
    datasource: { uid: string };
    targets: { expr: string; datasource: { uid: string } }[];
  }[];
};

test("the dashboard picks its Prometheus through a datasource variable, on every panel and query", () => {
  expect(dash.templating.list[0]).toMatchObject({
    name: "datasource",
    type: "datasource",
    query: "prometheus",
  });
  for (const p of dash.panels) {
    expect(p.datasource.uid, p.title).toBe(DATASOURCE);
    for (const t of p.targets) expect(t.datasource.uid, p.title).toBe(DATASOURCE);
  }
});

test("every nixguard_ series a panel queries is one src/metrics.ts declares", async () => {
  const declared = new Set(
    (await createMetrics({ version: "t", processMetrics: false }).registry.getMetricsAsJSON()).map(
      (m) => m.name,
    ),
  );
  const used = new Set(
    dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/nixguard_[a-z_]+/g) ?? [])),
  );
  expect(used.size).toBeGreaterThanOrEqual(10);
  for (const name of used) expect(declared.has(name.replace(/_(bucket|count|sum)$/, "")), name).toBe(true);
});

test("the dashboard covers what operators asked for", () => {
  const titles = dash.panels.map((p) => p.title);
  for (const t of [
    "Fleet health by state",
    "Failing checks",
    "Remediation actions",
    "Blocked actions by gate",
    "Deploy duration (nixops4 apply)",
    "Queue depth",
    "Leader",
    "Circuit breaker",
    "Paused scopes",
  ]) {
    expect(titles).toContain(t);
  }
});

test("every panel on a series with a deployment label honours $deployment (issue 19)", () => {
  const labelled = new Set(
    createMetrics({ version: "t", processMetrics: false })
      .registry.getMetricsAsArray()
      .filter((m) => (m as { labelNames?: string[] }).labelNames?.includes("deployment") ?? false)
      .map((m) => (m as { name: string }).name),
  );
  // The computed gauges (host_up, check_up, TLS expiry) carry deployment too.
  for (const n of ["nixguard_host_up", "nixguard_check_up", "nixguard_http_tls_expiry_timestamp_seconds"])
    labelled.add(n);
  expect(labelled).toContain("nixguard_hosts");
  expect(labelled).toContain("nixguard_actions_blocked_total");
  const unfiltered: string[] = [];
  for (const p of dash.panels)
    for (const t of p.targets)
      for (const m of t.expr.matchAll(/(nixguard_[a-z_]+)(\{[^}]*\})?/g)) {
        const name = m[1]!.replace(/_(bucket|count|sum)$/, "");
        if (name === "nixguard_paused") {
          if (!m[2]?.includes("$deployment")) unfiltered.push(`${p.title}: ${m[0]}`);
        } else if (labelled.has(name) && !m[2]?.includes('deployment=~"$deployment"'))
          unfiltered.push(`${p.title}: ${m[0]}`);
      }
  expect(unfiltered).toEqual([]);
});

test("panels for drift, host state history, last deploy age and actions over time; deploy quantiles see daily deploys", () => {
  const byTitle = new Map(dash.panels.map((p) => [p.title, p]));
  for (const t of ["Drift", "Host state history", "Last successful deploy", "Actions per hour"])
    expect(byTitle.has(t), t).toBe(true);
  const deploy = byTitle.get("Deploy duration (nixops4 apply)")!;
  for (const t of deploy.targets) {
    expect(t.expr).not.toContain("$__rate_interval");
    expect(t.expr).toMatch(/\[(1d|7d)\]/);
  }
});

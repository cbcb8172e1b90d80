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

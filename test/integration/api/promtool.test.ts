import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { promDurationMs, rulesWithRunbookBase, rulesWithTimeScale } from "../../../src/cmd/alerts.js";
import { seriesOf } from "../../helpers/series.js";
import { type Listening, listen } from "./server.js";

/** promtool (Debian's prometheus package) judges the real /metrics output and contrib's rules. */
let api: Listening;
beforeAll(async () => {
  api = await listen();
  const m = api.metrics;
  // Every labelled family populated, as a running fleet would.
  m.hostUp.from(seriesOf([[["fedi", "garage"], 1]]));
  m.checkUp.from(seriesOf([[["fedi", "garage", "http:garage-health"], 1]]));
  m.tlsExpiry.from(seriesOf([[["fedi", "garage", "http:garage-health"], 1_900_000_000]]));
  m.actionsTotal.inc({ deployment: "fedi", action: "restart", outcome: "success" });
  m.actionsBlockedTotal.inc({ deployment: "fedi", reason: "budget" });
  m.hosts.set({ deployment: "fedi", state: "healthy" }, 1);
  m.deployDuration.observe({ deployment: "fedi", outcome: "success" }, 93);
  m.lastDeploySuccess.set({ deployment: "fedi" }, 1_750_000_000);
  m.paused.set({ scope: "deployment/fedi" }, 1);
  m.quarantined.set({ deployment: "fedi", host: "garage" }, 0);
  m.drift.set({ deployment: "fedi", host: "garage" }, 0);
  m.reconcileDuration.observe({ deployment: "fedi" }, 0.002);
  m.probesTotal.inc({ deployment: "fedi", kind: "systemd", result: "ok" });
  m.probeDuration.observe({ deployment: "fedi", kind: "http" }, 0.03);
});
afterAll(() => api.close());

const promtool = (args: string[], input?: string) =>
  spawnSync("promtool", args, { input, encoding: "utf8", timeout: 20_000 });

test("promtool check metrics accepts the live /metrics output (Node defaults included)", async () => {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  expect(text).toContain("nixguard_process_cpu_seconds_total");
  expect(text).toContain("nixguard_nodejs_heap_size_used_bytes");
  const r = promtool(["check", "metrics"], text);
  expect(r.stdout + r.stderr).toBe("");
  expect(r.status).toBe(0);
});

test("promtool check metrics would flag a bad metric (the check can fail)", () => {
  const r = promtool(["check", "metrics"], "# HELP x_total a\n# TYPE x_total gauge\nx_total 1\n");
  expect(r.status).not.toBe(0);
});

test("promtool check rules and test rules pass on contrib/prometheus", () => {
  const check = promtool(["check", "rules", "contrib/prometheus/alerts.yml"]);
  expect(check.stdout).toContain("SUCCESS: 10 rules found");
  expect(check.status).toBe(0);
  const t = promtool(["test", "rules", "contrib/prometheus/alerts.test.yml"]);
  expect(t.stdout + t.stderr).toContain("SUCCESS");
  expect(t.status).toBe(0);
});

test("promtool's rule tests cover every alert in alerts.yml", () => {
  const rules = readFileSync("contrib/prometheus/alerts.yml", "utf8");
  const tests = readFileSync("contrib/prometheus/alerts.test.yml", "utf8");
  const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
  expect(alerts.length).toBeGreaterThanOrEqual(10);
  const untested = alerts.filter((a) => !new RegExp(`alertname: ${a}\\b[\\s\\S]*?exp_labels`).test(tests));
  expect(untested).toEqual([]);
});

test("nixguard alerts --runbook-base: every runbook link absolute from the one base, rules still valid", () => {
  const base = "https://docs.example.org/nixguard/operations.md";
  const rules = readFileSync("contrib/prometheus/alerts.yml", "utf8");
  const out = rulesWithRunbookBase(rules, base);
  const links = [...out.matchAll(/runbook_url: "([^"]+)"/g)].map((m) => m[1]!);
  expect(links.length).toBe([...rules.matchAll(/^\s+- alert: /gm)].length);
  for (const l of links)
    expect(l).toMatch(/^https:\/\/docs\.example\.org\/nixguard\/operations\.md#[a-z-]+$/);
  const dir = mkdtempSync(join(tmpdir(), "nixguard-alerts-"));
  try {
    writeFileSync(join(dir, "alerts.yml"), out);
    const check = promtool(["check", "rules", join(dir, "alerts.yml")]);
    expect(check.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(() => rulesWithRunbookBase(rules, "docs/operations.md")).toThrow(
    /--runbook-base takes an http\(s\) URL/,
  );
});

test("nixguard alerts --time-scale: every for: and range divided, nothing else changed, rules still valid", () => {
  const rules = readFileSync("contrib/prometheus/alerts.yml", "utf8");
  const out = rulesWithTimeScale(rules, 60);
  const before = rules.split("\n");
  const after = out.split("\n");
  expect(after.length).toBe(before.length);
  const changed = before.filter((l, i) => l !== after[i]);
  // Each changed line is a for: or an expression with a range; its waits are 1/60 of the original.
  expect(changed.length).toBeGreaterThanOrEqual(9);
  for (const [i, l] of before.entries()) {
    if (l === after[i]) continue;
    const waits = (s: string) =>
      [...s.matchAll(/for: (\S+)$|\[(\w+)\]/g)].map((m) => promDurationMs((m[1] ?? m[2])!)!);
    expect(waits(after[i]!)).toEqual(waits(l).map((ms) => ms / 60));
  }
  expect(out).toContain("for: 60000ms"); // TLSCertExpiringSoon's 1h
  expect(out).toContain("[120000ms]"); // DeployFailing's 2h
  expect(out).toContain("14 * 86400"); // a threshold, not a wait
  const dir = mkdtempSync(join(tmpdir(), "nixguard-alerts-"));
  try {
    writeFileSync(join(dir, "alerts.yml"), out);
    expect(promtool(["check", "rules", join(dir, "alerts.yml")]).status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(() => rulesWithTimeScale(rules, 0.5)).toThrow(/--time-scale takes a number ≥ 1/);
  expect(promDurationMs("1h30m")).toBe(5_400_000);
  expect(promDurationMs("5 m")).toBeUndefined();
});

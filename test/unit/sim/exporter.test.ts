import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { Fleet } from "../../../src/sim/fleet.js";
import { simLayout } from "../../../src/sim/layout.js";
import { goFloat, renderExporter } from "../../../src/sim/render/exporter.js";

const golden = readFileSync(
  new URL("../../fixtures/golden/node-exporter/pixelfed.prom", import.meta.url),
  "utf8",
);

function pixelfedWithFailedHorizon() {
  const f = new Fleet(simLayout("fediversity"));
  f.inject({ kind: "unit-fail", host: "pixelfed", unit: "pixelfed-horizon.service" });
  f.host("pixelfed")!.units.get("pixelfed-horizon.service")!.nRestarts = 2;
  return f;
}

function promtoolCheck(text: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile("promtool", ["check", "metrics"], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    child.stdin?.end(text);
  });
}

describe("fake node_exporter", () => {
  it("matches the golden exposition and passes promtool check metrics", async () => {
    const f = pixelfedWithFailedHorizon();
    const text = renderExporter(f, f.host("pixelfed")!);
    expect(text).toBe(golden);
    expect(await promtoolCheck(text)).toEqual({ code: 0, out: "" });
  });

  it("has exactly one state set to 1 per loaded unit, and omits not-found units", () => {
    const f = pixelfedWithFailedHorizon();
    f.inject({ kind: "unit-missing", host: "pixelfed", unit: "phpfpm-pixelfed.service" });
    const families = parsePrometheusTextFormat(renderExporter(f, f.host("pixelfed")!));
    const state = families.find((m) => m.name === "node_systemd_unit_state")!;
    const on = state.metrics.filter((m) => "value" in m && m.value === "1").map((m) => m.labels);
    expect(on).toEqual([
      { name: "nginx.service", state: "active", type: "simple" },
      { name: "pixelfed-cron.timer", state: "active", type: "" },
      { name: "pixelfed-data-setup.service", state: "inactive", type: "oneshot" },
      { name: "pixelfed-horizon.service", state: "failed", type: "simple" },
      { name: "redis-pixelfed.service", state: "active", type: "notify" },
    ]);
  });

  it("formats numbers like Go's strconv 'g'", () => {
    expect([
      goFloat(0),
      goFloat(0.15),
      goFloat(123456),
      goFloat(1e6),
      goFloat(107374182400),
      goFloat(1.5e-5),
    ]).toEqual(["0", "0.15", "123456", "1e+06", "1.073741824e+11", "1.5e-05"]);
  });
});

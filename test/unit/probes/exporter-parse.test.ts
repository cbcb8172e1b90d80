import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseNodeExporter, wantedLines } from "../../../src/probes/transports/exporter-parse.js";

const text = readFileSync(
  new URL("../../fixtures/systemctl/node_exporter/metrics.txt", import.meta.url),
  "utf8",
);

describe("parseNodeExporter", () => {
  const units = [
    "mastodon-web.service",
    "peertube.service",
    "mastodon-init-db.service",
    "pixelfed-cron.timer",
    "gone.service",
  ];
  const facts = parseNodeExporter(text, units);

  it("reads each unit's current state from node_systemd_unit_state", () => {
    expect(facts.units["mastodon-web.service"]).toMatchObject({
      loadState: "loaded",
      activeState: "active",
      type: "simple",
      activeEnterTimestamp: 1763900000_000,
    });
    expect(facts.units["peertube.service"]).toMatchObject({
      activeState: "failed",
      result: "failed",
      nRestarts: 4,
    });
    expect(facts.units["peertube.service"]!.activeEnterTimestamp).toBeUndefined();
    expect(facts.units["mastodon-init-db.service"]).toMatchObject({
      activeState: "inactive",
      type: "oneshot",
    });
    expect(facts.units["pixelfed-cron.timer"]).toMatchObject({ activeState: "active", type: "" });
  });

  it("reports a unit the exporter does not list as not-found", () => {
    expect(facts.units["gone.service"]).toMatchObject({ loadState: "not-found", activeState: "inactive" });
  });

  it("reads load, CPUs and the root filesystem", () => {
    expect(facts.load).toEqual([0.52, 0.44, 0.31]);
    expect(facts.cpus).toBe(2);
    expect(facts.disks).toEqual([
      {
        mount: "/",
        sizeBytes: 107374182400,
        usedBytes: 96636764160,
        usedFraction: 96636764160 / (96636764160 + 5368709120),
      },
    ]);
    expect(facts.currentSystem).toBeUndefined();
  });

  it("fails clearly without the systemd collector, or with a unit in two states", () => {
    expect(() => parseNodeExporter("node_load1 0.5\n", ["a.service"])).toThrow(/systemd collector/);
    const twice =
      'node_systemd_unit_state{name="a.service",state="active",type="simple"} 1\nnode_systemd_unit_state{name="a.service",state="failed",type="simple"} 1\n';
    expect(() => parseNodeExporter(twice, ["a.service"])).toThrow(/two states/);
    const odd = 'node_systemd_unit_state{name="a.service",state="exploded",type="simple"} 1\n';
    expect(() => parseNodeExporter(odd, ["a.service"])).toThrow(/unknown unit state/);
    const oddZero = 'node_systemd_unit_state{name="a.service",state="exploded",type="simple"} 0\n';
    expect(() => parseNodeExporter(oddZero, ["a.service"])).toThrow(/unknown unit state/);
    const badValue = 'node_systemd_unit_state{name="a.service",state="active",type="simple"} x\n';
    expect(() => parseNodeExporter(badValue, ["a.service"])).toThrow(/has value/);
    // Only states of value 0: the collector is there, the unit is in none of them.
    const none = 'node_systemd_unit_state{name="a.service",state="active",type="simple"} 0\n';
    expect(parseNodeExporter(none, ["a.service"]).units["a.service"]).toMatchObject({
      loadState: "not-found",
    });
  });

  it("skips the families it does not read, unparsed, and stays strict on those it reads", () => {
    const noise = [
      "# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.",
      "# TYPE go_gc_duration_seconds summary",
      'go_gc_duration_seconds{quantile="0"} 2.1e-05',
      "# a free comment",
      "node_network_receive_bytes_total{device=eth0 1", // malformed, but not ours to judge
      "",
    ].join("\n");
    const mixed = `${noise}\n${text}\n${noise}\n`;
    expect(wantedLines(mixed).text).toBe(wantedLines(text).text);
    expect(wantedLines(mixed).text).not.toMatch(/go_gc|node_network|free comment/);
    // The unit-state lines of value 0 in canonical form are checked by pattern, not parsed.
    const zeros = text.split("\n").filter((l) => l.startsWith("node_systemd_unit_state") && l.endsWith(" 0"));
    expect(zeros.length).toBeGreaterThan(0);
    expect(wantedLines(text).inactiveStates).toBe(zeros.length);
    expect(parseNodeExporter(mixed, units)).toEqual(facts);
    const broken = 'node_systemd_unit_state{name="a.service",state=active,type="simple"} 1\n';
    expect(() => parseNodeExporter(broken, ["a.service"])).toThrow(
      expect.objectContaining({ code: "PROBE_PARSE" }),
    );
  });
});

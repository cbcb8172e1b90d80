import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { probeHttp } from "../../../src/probes/http/probe.js";
import { simConfig } from "../../../src/sim/config.js";
import { simLayout } from "../../../src/sim/layout.js";
import { startSimulation } from "../../../src/sim/server.js";

describe("a 10,000-host simulated fleet on one loopback port", () => {
  it("serves every host's node_exporter metrics and HTTP checks (sanity, not a timed test)", async () => {
    const sim = await startSimulation(simLayout(10_000));
    try {
      expect(sim.routing).toBe("path");
      const cfg = simConfig({
        hosts: 10_000,
        transport: "exporter",
        simUrl: sim.url,
        nixops4Command: "/bin/false",
        flakeDir: "/tmp/nixguard-sim-flakes",
      });
      const hosts = parseConfig(cfg).desired.deployments.flatMap((d) => d.hosts);
      expect(hosts).toHaveLength(10_000);
      // mastodon: 7 units (nginx among them), 2 HTTP checks.
      expect(hosts.every((h) => h.units.length + h.http.length === 9)).toBe(true);
      const sample = [0, 1, 4999, 9999].map((i) => hosts[i]!);
      for (const h of sample) {
        const res = await fetch(h.transport.kind === "exporter" ? h.transport.url : "");
        const text = await res.text();
        expect(res.status).toBe(200);
        expect(text).toContain(
          `node_systemd_unit_state{name="mastodon-web.service",state="active",type="simple"} 1`,
        );
      }
      for (const check of hosts[9999]!.http) {
        const r = await probeHttp(check, AbortSignal.timeout(5000));
        expect([check.id, r.ok, r.status]).toEqual([check.id, true, 200]);
      }
      // 500 scrapes in a row: the simulator must not be the bottleneck of the scale benchmark.
      const started = Date.now();
      for (let i = 0; i < 500; i++)
        await (await fetch(`${sim.url}/exporter/${hosts[i * 20]!.name}/metrics`)).text();
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(sim.stats.exporter).toBe(504);
    } finally {
      await sim.close();
    }
  });
});

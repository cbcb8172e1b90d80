import { describe, expect, it } from "vitest";
import type { FleetStatus } from "../../../src/api/control-plane-port.js";
import { formatStatus } from "../../../src/cli/format.js";

const base: FleetStatus = {
  version: "test",
  mode: "enforce",
  leader: { known: true, self: false, id: "a" },
  pauses: [],
  breaker: { open: false, unhealthyFraction: 0 },
  maintenance: [],
  quarantined: [],
  hosts: { healthy: 3, degraded: 0, failing: 0, unreachable: 0, unknown: 0 },
  queue: { waiting: 0, active: 0, delayed: 0, failed: 0 },
};

describe("nixguard status: who probes what", () => {
  it("one line per prober: this process, its host and pid, its share, its heartbeat; the dead say so", () => {
    const now = 1_000_000;
    const text = formatStatus(
      {
        ...base,
        probing: {
          shared: true,
          self: "b",
          members: [
            { id: "a", heartbeatAt: now - 2_000, alive: true, hosts: 10_012, hostname: "deployer", pid: 41 },
            { id: "b", heartbeatAt: now - 1_000, alive: true, hosts: 9_988, hostname: "replica", pid: 7 },
            { id: "c", heartbeatAt: now - 60_000, alive: false, hosts: 0 },
          ],
        },
      },
      now,
    );
    const lines = text.split("\n").filter((l) => l.startsWith("prober"));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^prober\s+a on deployer pid 41: 10012 host\(s\), heartbeat 2s ago$/);
    expect(lines[1]).toContain("b (this process) on replica pid 7: 9988 host(s)");
    expect(lines[2]).toMatch(/c: dead, heartbeat .* ago/);
  });

  it("no probing section: no prober lines (an API that predates it)", () => {
    expect(formatStatus(base, 0)).not.toContain("prober");
  });
});

import { describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { publishHealth, publishHostCounts } from "../../../src/controller/health-metrics.js";
import type { HostHealth } from "../../../src/controller/types.js";
import { createMetrics } from "../../../src/metrics.js";

const spec = {
  deployment: "d",
  name: "h",
  units: [
    { id: "a.service", unit: "a.service", oneshot: false },
    { id: "b.service", unit: "b.service", oneshot: false },
  ],
  http: [{ id: "http:home" }],
} as unknown as HostSpec;

const check = (id: string, state: "healthy" | "failing" | "unknown", extra = {}) => ({
  id,
  kind: "systemd" as const,
  state,
  since: 0,
  reason: "",
  consecutiveFailures: 0,
  consecutiveSuccesses: 0,
  ...extra,
});

const health = (state: HostHealth["state"]): HostHealth => ({
  deployment: "d",
  host: "h",
  state,
  since: 0,
  reasons: [],
  checks: {
    "a.service": check("a.service", "healthy"),
    "b.service": check("b.service", "failing"),
    "http:home": { ...check("http:home", "unknown", { tlsExpiresAt: 1_800_000_000_000 }), kind: "http" },
  },
});

describe("publishHealth", () => {
  it("sets check_up per known check, no series for unknown, host_up and TLS expiry", async () => {
    const m = createMetrics({ version: "test", processMetrics: false });
    publishHealth(m, health("degraded"), spec);
    const text = await m.registry.metrics();
    expect(text).toContain('nixguard_check_up{deployment="d",host="h",check="a.service"} 1');
    expect(text).toContain('nixguard_check_up{deployment="d",host="h",check="b.service"} 0');
    expect(text).not.toContain('nixguard_check_up{deployment="d",host="h",check="http:home"}');
    expect(text).toContain(
      'nixguard_http_tls_expiry_timestamp_seconds{deployment="d",host="h",check="http:home"} 1800000000',
    );
    expect(text).toContain('nixguard_host_up{deployment="d",host="h"} 1');
    publishHealth(m, health("unreachable"), spec);
    expect(await m.registry.metrics()).toContain('nixguard_host_up{deployment="d",host="h"} 0');
  });
});

describe("publishHostCounts", () => {
  it("counts hosts per state and zeroes the empty states", async () => {
    const m = createMetrics({ version: "test", processMetrics: false });
    publishHostCounts(m, [health("failing"), health("failing"), health("healthy")]);
    publishHostCounts(m, [health("failing"), health("healthy")]);
    const text = await m.registry.metrics();
    expect(text).toContain('nixguard_hosts{state="failing"} 1');
    expect(text).toContain('nixguard_hosts{state="healthy"} 1');
    expect(text).toContain('nixguard_hosts{state="unreachable"} 0');
  });
});

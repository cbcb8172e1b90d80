import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { startOnlyChanges } from "../../../src/config/start-only.js";

const base = () => ({
  deployments: {
    web: { flake: "/var/lib/deploy", hosts: { web1: { address: "10.0.0.1", units: ["nginx.service"] } } },
  },
});
const diff = (over: Record<string, unknown>) =>
  startOnlyChanges(parseConfig(base()).config, parseConfig({ ...base(), ...over }).config).map((i) => i.path);

describe("startOnlyChanges", () => {
  it("names each setting read only at start that a reload would change", () => {
    expect(diff({ probes: { interval: "10s", timeout: "5s" } })).toEqual([
      "probes.interval",
      "probes.timeout",
    ]);
    expect(diff({ api: { listen: "127.0.0.1:9999" } })).toEqual(["api"]);
    expect(diff({ worker: { lockTtl: "2m" }, leader: { lease: "20s" } })).toEqual(["worker", "leader"]);
    expect(diff({ redis: { prefix: "other" } })).toEqual(["redis"]);
  });

  it("lets through what a reload applies: deployments, remediation, schedule, notify, health thresholds", () => {
    expect(
      diff({
        remediation: { restartAttempts: 5, mode: "observe" },
        probes: { failureThreshold: 5, thresholds: { diskUsedFraction: 0.8 } },
        schedule: [{ cron: "0 4 * * *", action: "redeploy", deployments: ["web"] }],
        notify: [{ url: "https://hooks.example.org/x", events: ["quarantine"] }],
        ssh: { user: "deploy" },
      }),
    ).toEqual([]);
    // An explicit default is no change.
    expect(diff({ probes: { interval: "30s" } })).toEqual([]);
  });
});

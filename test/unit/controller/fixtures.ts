import { type LoadedConfig, parseConfig } from "../../../src/config/load.js";
import type { ConfigInput } from "../../../src/config/schema.js";
import type { CheckHealth, HostHealth, HostState } from "../../../src/controller/types.js";

/** A small fleet: one deployment of five hosts, `mastodon` with its own nixops4 target. */
export function fleetConfig(
  remediation: ConfigInput["remediation"] = {},
  extra: Partial<ConfigInput> = {},
): LoadedConfig {
  return parseConfig({
    remediation,
    deployments: {
      fedi: {
        flake: "/srv/fedi",
        target: "fedi",
        hosts: {
          a: { address: "127.0.0.1", transport: "local", units: ["a.service", "b.service"] },
          b: { address: "127.0.0.1", transport: "local", units: ["a.service"] },
          c: { address: "127.0.0.1", transport: "local", units: ["a.service"] },
          d: { address: "127.0.0.1", transport: "local", units: ["a.service"] },
          mastodon: {
            address: "127.0.0.1",
            transport: "local",
            target: "fedi.mastodon",
            units: ["mastodon-web.service"],
            http: [{ name: "home", url: "http://127.0.0.1:1/", units: ["mastodon-web.service"] }],
          },
        },
      },
    },
    ...extra,
  });
}

export function check(
  id: string,
  state: CheckHealth["state"],
  extra: Partial<CheckHealth> = {},
): CheckHealth {
  return {
    id,
    kind: id.startsWith("http:") ? "http" : "systemd",
    state,
    since: 0,
    reason: state,
    consecutiveFailures: state === "failing" ? 3 : 0,
    consecutiveSuccesses: state === "healthy" ? 1 : 0,
    ...extra,
  };
}

export function hostHealth(
  host: string,
  state: HostState,
  checks: CheckHealth[] = [],
  extra: Partial<HostHealth> = {},
): HostHealth {
  return {
    deployment: "fedi",
    host,
    state,
    since: 0,
    reasons: [],
    checks: Object.fromEntries(checks.map((c) => [c.id, c])),
    ...extra,
  };
}

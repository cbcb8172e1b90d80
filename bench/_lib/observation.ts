import type { HostSpec } from "../../src/config/desired.js";
import type { HostObservation } from "../../src/probes/types.js";

/**
 * What a probe of a healthy host returns: every unit active, every HTTP check 200 with a TLS
 * expiry for https ones. `failing` names checks that fail instead (unit failed, HTTP 502).
 */
export function healthyObservation(
  spec: HostSpec,
  at: number,
  failing: (checkId: string) => boolean = () => false,
): HostObservation {
  const units: NonNullable<HostObservation["facts"]>["units"] = {};
  for (const u of spec.units) {
    const bad = failing(u.id);
    units[u.unit] = {
      id: u.unit,
      loadState: "loaded",
      activeState: bad ? "failed" : "active",
      subState: bad ? "failed" : "running",
      result: bad ? "exit-code" : "success",
      nRestarts: 0,
      type: "simple",
      activeEnterTimestamp: at - 3_600_000,
    };
  }
  return {
    deployment: spec.deployment,
    host: spec.name,
    at,
    durationMs: 12,
    reachable: true,
    facts: {
      units,
      currentSystem: "/nix/store/00000000000000000000000000000000-nixos-system",
      disks: [{ mount: "/", sizeBytes: 100e9, usedBytes: 40e9, usedFraction: 0.4 }],
      load: [0.2, 0.3, 0.3],
      cpus: 4,
    },
    http: spec.http.map((c) => {
      const bad = failing(c.id);
      const status = bad ? 502 : 200;
      return {
        check: c.id,
        ok: !bad,
        result: bad ? ("fail" as const) : ("ok" as const),
        status,
        durationMs: 8,
        reason: `GET ${c.url} → ${status} in 8 ms`,
        ...(c.url.startsWith("https:") ? { tlsExpiresAt: 1_900_000_000_000 } : {}),
      };
    }),
  };
}

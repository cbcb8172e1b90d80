import { join } from "node:path";
import type { ConfigInput } from "../../src/config/schema.js";
import { simConfig, writeSimFlakes } from "../../src/sim/config.js";
import { simLayout } from "../../src/sim/layout.js";

/**
 * The simulator's fleet of `hosts` as a config, for benches that feed observations in
 * themselves: no simulator runs, so nothing probes it (the URL is never contacted) and nixops4 is
 * /bin/false. Flakes, state and runtime dirs go under `dir`, which the caller removes.
 */
export function offlineFleetConfig(hosts: number, dir: string): ConfigInput {
  writeSimFlakes(simLayout(hosts), join(dir, "flake"));
  return simConfig({
    hosts,
    transport: "exporter",
    simUrl: "http://127.0.0.1:9",
    nixops4Command: "/bin/false",
    flakeDir: join(dir, "flake"),
    overrides: { state: { dir: join(dir, "state"), runtimeDir: join(dir, "run") } },
  });
}

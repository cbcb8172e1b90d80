import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_STREAMING_PROCESSES } from "../config/catalog.js";
import type { ConfigInput, ServiceName } from "../config/schema.js";
import {
  defaultRouting,
  type LayoutOptions,
  layoutHosts,
  type SimHostsSpec,
  type SimLayout,
  type SimRouting,
  simLayout,
} from "./layout.js";

/**
 * A NixGuard config that points every check at the simulator, for the demo, tests and
 * benchmarks. It goes through parseConfig like any operator's file; only addresses, ports and
 * commands differ from a real Fediversity deployment.
 */
export interface SimConfigOptions {
  hosts: SimHostsSpec;
  transport: "ssh" | "exporter";
  /** The simulator's URL (SimServer.url), http://127.0.0.1:PORT. */
  simUrl: string;
  /** Fake ssh (SimBin.ssh); required for transport "ssh". */
  sshCommand?: string;
  /** Fake nixops4 (SimBin.nixops4). */
  nixops4Command: string;
  /** Flake directory; with several deployments each gets `<flakeDir>/<deployment>`. */
  flakeDir: string;
  /** Must match the server's routing (default: by host count, as the server decides). */
  routing?: SimRouting;
  layout?: LayoutOptions;
  sshIdentityFile?: string;
  sshKnownHostsFile?: string;
  /** Top-level sections merged over the generated ones (probes, remediation, redis, api, …). */
  overrides?: Partial<Omit<ConfigInput, "deployments">>;
}

export function simFlakeDirs(layout: SimLayout, flakeDir: string): Record<string, string> {
  const single = layout.deployments.length === 1;
  return Object.fromEntries(
    layout.deployments.map((d) => [d.name, single ? flakeDir : join(flakeDir, d.name)]),
  );
}

/** Creates the flake directories with a flake.nix each (the fake nixops4 refuses a directory without one). */
export function writeSimFlakes(layout: SimLayout, flakeDir: string): Record<string, string> {
  const dirs = simFlakeDirs(layout, flakeDir);
  for (const [name, dir] of Object.entries(dirs)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "flake.nix"),
      `# Simulated nixops4 deployment "${name}" (NixGuard fleet simulator); never evaluated.\n{ outputs = _: { }; }\n`,
    );
  }
  return dirs;
}

export function simConfig(opts: SimConfigOptions): ConfigInput {
  const layout = simLayout(opts.hosts, opts.layout);
  const hostCount = layoutHosts(layout).length;
  const routing = opts.routing ?? defaultRouting(hostCount);
  if (opts.transport === "ssh" && routing !== "address")
    throw new Error('transport "ssh" needs routing "address": the fake ssh tells hosts apart by address');
  if (opts.transport === "ssh" && !opts.sshCommand) throw new Error('transport "ssh" needs sshCommand');
  const sim = new URL(opts.simUrl);
  const port = Number(sim.port);
  const base = opts.simUrl.replace(/\/$/, "");
  const flakes = simFlakeDirs(layout, opts.flakeDir);

  const deployments: NonNullable<ConfigInput["deployments"]> = {};
  for (const dep of layout.deployments) {
    const placed = new Set(dep.hosts.flatMap((h) => h.services));
    const hosts: Record<string, unknown> = {};
    for (const h of dep.hosts) {
      const serviceOptions: Record<string, unknown> = {};
      for (const service of h.services) {
        serviceOptions[service] = {
          scheme: "http",
          port,
          ...(h.hostnames[service] !== `${service}.${layout.domain}`
            ? { hostname: h.hostnames[service] }
            : {}),
          // nixpkgs has no default: a config says how many streaming processes run.
          ...(service === "mastodon" ? { streamingProcesses: DEFAULT_STREAMING_PROCESSES } : {}),
          // The simulated Garage has its admin API on (address-routed, like its S3 port).
          ...(service === "garage" ? { adminApi: { port } } : {}),
          // Without a per-host address to connect to, address-routed checks go by path instead.
          ...(routing === "path" && service === "garage"
            ? { checks: { "admin-health": { url: `${base}/addr/${h.name}/health` } } }
            : {}),
        };
      }
      hosts[h.name] = {
        address: routing === "address" ? h.address : sim.hostname,
        // No target of its own: a machine is a resource, which nixops4 cannot apply alone (newer
        // CLI), and the older CLI has no per-machine deployments. Fediversity's shape.
        services: h.services,
        serviceOptions,
        ...(opts.transport === "exporter"
          ? { transport: "exporter", exporterUrl: `${base}/exporter/${h.name}/metrics` }
          : { transport: "ssh" }),
      };
    }
    deployments[dep.name] = {
      flake: flakes[dep.name] as string,
      target: dep.target,
      fediversity: {
        domain: layout.domain,
        ...Object.fromEntries([...placed].map((s: ServiceName) => [s, { enable: true }])),
      },
      hosts: hosts as never,
    };
  }

  const o = opts.overrides ?? {};
  return {
    ...o,
    probes: { interval: "5s", timeout: "3s", ...o.probes },
    nixops4: { command: opts.nixops4Command, timeout: "2m", ...o.nixops4 },
    ssh: {
      ...(opts.sshCommand ? { command: opts.sshCommand } : {}),
      user: "root",
      connectTimeout: "3s",
      // A client per request, not the default persistent session: the fault suite reads every
      // request from the fake ssh's argv (restarts counted, hostile values looked for), the fake
      // answers the generation listing and the switch by recognising them there (remote-script.ts),
      // and a simulated network cut or host key change acts when ssh connects.
      session: "per-probe",
      ...(opts.sshIdentityFile ? { identityFile: opts.sshIdentityFile } : {}),
      ...(opts.sshKnownHostsFile ? { knownHostsFile: opts.sshKnownHostsFile } : {}),
      ...o.ssh,
    },
    deployments,
  };
}

import type { ServiceName } from "../config/schema.js";

/**
 * Who lives where in a simulated fleet. Pure and deterministic: the fleet (state) and simConfig
 * (NixGuard's view) both derive from the same layout, so they agree on names, addresses,
 * hostnames and nixops4 targets without talking to each other.
 */
export interface SimHostDef {
  deployment: string;
  name: string;
  /** Unique loopback address: what ssh connects to and what address-routed checks hit. */
  address: string;
  services: ServiceName[];
  /** Public vhost per service (the Host header the simulator routes on). */
  hostnames: Partial<Record<ServiceName, string>>;
  /** nixops4 dot path that redeploys this host alone. */
  target: string;
}

export interface SimDeploymentDef {
  name: string;
  target: string;
  hosts: SimHostDef[];
}

export interface SimLayout {
  domain: string;
  deployments: SimDeploymentDef[];
}

export type SimHostsSpec = number | "fediversity";

export interface LayoutOptions {
  domain?: string;
  /** Numbered fleets: hosts per deployment (default 100). */
  hostsPerDeployment?: number;
  /** Numbered fleets: services of every host, or "rotate" through the catalog (default mastodon: 9 checks). */
  services?: ServiceName[] | "rotate";
}

export const FEDIVERSITY_DOMAIN = "demo.nixguard.test";
export const SIM_DOMAIN = "sim.nixguard.test";
const FEDIVERSITY_HOSTS: ServiceName[] = ["garage", "mastodon", "peertube", "pixelfed"];
const ROTATION: ServiceName[] = ["mastodon", "pixelfed", "peertube", "gotosocial", "garage"];

/** 127.10.0.1, 127.10.0.2, … skipping .0 and .255 so no address looks like a network or broadcast one. */
export function simAddress(index: number): string {
  const n = Math.floor(index / 254) * 256 + (index % 254) + 1;
  return `127.${10 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

export function simLayout(hosts: SimHostsSpec, opts: LayoutOptions = {}): SimLayout {
  if (hosts === "fediversity") {
    const domain = opts.domain ?? FEDIVERSITY_DOMAIN;
    return {
      domain,
      deployments: [
        {
          name: "fediversity",
          target: "fediversity",
          hosts: FEDIVERSITY_HOSTS.map((service, i) => ({
            deployment: "fediversity",
            name: service,
            address: simAddress(i),
            services: [service],
            hostnames: { [service]: `${service}.${domain}` },
            target: `fediversity.${service}`,
          })),
        },
      ],
    };
  }
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 1_000_000)
    throw new RangeError(`hosts must be an integer 1..1000000, got ${hosts}`);
  const domain = opts.domain ?? SIM_DOMAIN;
  const perDeployment = opts.hostsPerDeployment ?? 100;
  const width = String(hosts - 1).length;
  const deployments: SimDeploymentDef[] = [];
  for (let i = 0; i < hosts; i++) {
    const d = Math.floor(i / perDeployment);
    const depName = `sim-${String(d).padStart(String(Math.floor((hosts - 1) / perDeployment)).length, "0")}`;
    if (!deployments[d]) deployments[d] = { name: depName, target: depName, hosts: [] };
    const name = `h${String(i).padStart(width, "0")}`;
    const services =
      opts.services === "rotate"
        ? [ROTATION[i % ROTATION.length] as ServiceName]
        : [...(opts.services ?? ["mastodon"])];
    deployments[d].hosts.push({
      deployment: depName,
      name,
      address: simAddress(i),
      services,
      hostnames: Object.fromEntries(services.map((s) => [s, `${s}.${name}.${domain}`])),
      target: `${depName}.${name}`,
    });
  }
  return { domain, deployments };
}

export function layoutHosts(layout: SimLayout): SimHostDef[] {
  return layout.deployments.flatMap((d) => d.hosts);
}

/**
 * Above this many hosts the simulator does not bind one listener per host address (file
 * descriptors, start-up time); checks then reach it by Host header and path prefix instead.
 */
export const ADDRESS_ROUTING_MAX_HOSTS = 500;

export type SimRouting = "address" | "path";

export const defaultRouting = (hostCount: number): SimRouting =>
  hostCount <= ADDRESS_ROUTING_MAX_HOSTS ? "address" : "path";

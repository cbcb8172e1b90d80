import type { ConfigIssue } from "../errors.js";
import { CATALOG, type CatalogUnit, catalogOptions, NGINX_UNIT } from "./catalog.js";
import {
  type Config,
  type DeploymentConfig,
  GARAGE_USERS,
  type HostConfig,
  type ServiceName,
} from "./schema.js";

/**
 * The desired state: what NixGuard probes and keeps healthy, fully expanded (catalog applied,
 * defaults resolved). Everything downstream (probes, controller, API) reads this, never the raw
 * config's host blocks.
 */
export type TransportSpec =
  | {
      kind: "ssh";
      command: string;
      address: string;
      user: string;
      port: number;
      identityFile?: string;
      knownHostsFile?: string;
      connectTimeoutMs: number;
      controlPersistMs: number;
      /** "persistent": one long-lived ssh session per host instead of a client per request. */
      session?: "per-probe" | "persistent";
    }
  | { kind: "local" }
  | { kind: "exporter"; url: string };

export interface UnitCheck {
  /** Check id, unique within the host; used as the `check` metric label. */
  id: string;
  unit: string;
  oneshot: boolean;
  service?: ServiceName;
  /** Exists only under a module option that is off or unknown: judged only when the host has it. */
  conditional?: true;
}

export interface HttpCheck {
  id: string;
  name: string;
  url: string;
  method: "GET" | "HEAD";
  expectStatus: number[];
  expectBody?: string;
  expectBodyRegex?: string;
  timeoutMs: number;
  followRedirects: boolean;
  tlsVerify: boolean;
  caFile?: string;
  /** Connect to this address, sending the URL's hostname as SNI and Host (curl --resolve). */
  resolve?: string;
  bearerTokenFile?: string;
  /** Units the catalog ties to this check: restarted when it fails while they look active. */
  units: string[];
  service?: ServiceName;
}

export interface HostSpec {
  deployment: string;
  name: string;
  address: string;
  /** nixops4 target that redeploys this host: its own if configured, else the deployment's. */
  target: string;
  ownTarget: boolean;
  services: ServiceName[];
  transport: TransportSpec;
  units: UnitCheck[];
  http: HttpCheck[];
}

export interface DeploymentSpec {
  name: string;
  flake: string;
  target: string;
  hosts: HostSpec[];
}

export interface DesiredState {
  deployments: DeploymentSpec[];
}

export const hostKey = (deployment: string, host: string) => `${deployment}/${host}`;

export function allHosts(state: DesiredState): HostSpec[] {
  return state.deployments.flatMap((d) => d.hosts);
}

export function expandDesiredState(config: Config, issues: ConfigIssue[] = []): DesiredState {
  const deployments = Object.entries(config.deployments).map(([name, dep]) =>
    expandDeployment(config, name, dep, issues),
  );
  return deepFreeze({ deployments });
}

function expandDeployment(
  config: Config,
  name: string,
  dep: DeploymentConfig,
  issues: ConfigIssue[],
): DeploymentSpec {
  const base = `deployments.${name}`;
  const hosts = Object.entries(dep.hosts).map(([hostName, host]) =>
    expandHost(config, name, dep, hostName, host, `${base}.hosts.${hostName}`, issues),
  );
  if (dep.fediversity) {
    const fedi = dep.fediversity;
    const garageUsed = GARAGE_USERS.some((s) => fedi[s]?.enable === true);
    for (const service of Object.keys(CATALOG) as ServiceName[]) {
      // Garage is derived in Fediversity: it runs whenever an app that stores media in it does.
      const derived = service === "garage" && garageUsed;
      const enabled = fedi[service]?.enable === true || derived;
      const placed = hosts.some((h) => h.services.includes(service));
      // A derived Garage may live on a machine this config does not watch.
      if (fedi[service]?.enable === true && !placed) {
        issues.push({
          path: `${base}.fediversity.${service}.enable`,
          message: `service "${service}" is enabled but no host lists it in "services"`,
          value: true,
        });
      }
      if (!enabled && placed) {
        const on = hosts.filter((h) => h.services.includes(service)).map((h) => h.name);
        issues.push({
          path: `${base}.hosts.${on[0]}.services`,
          message: `service "${service}" is placed on ${on.join(", ")} but not enabled in ${base}.fediversity`,
          value: service,
        });
      }
    }
  }
  return { name, flake: dep.flake, target: dep.target, hosts };
}

function expandHost(
  config: Config,
  deployment: string,
  dep: DeploymentConfig,
  name: string,
  host: HostConfig,
  path: string,
  issues: ConfigIssue[],
): HostSpec {
  const units: UnitCheck[] = [];
  const http: HttpCheck[] = [];
  const seenUnits = new Set<string>();
  const addUnit = (unit: string, oneshot: boolean, service?: ServiceName, conditional = false) => {
    if (seenUnits.has(unit)) return;
    seenUnits.add(unit);
    units.push({
      id: unit,
      unit,
      oneshot,
      ...(service ? { service } : {}),
      ...(conditional ? { conditional } : {}),
    });
  };

  for (const [service] of Object.entries(host.serviceOptions ?? {})) {
    if (!host.services.includes(service as ServiceName)) {
      issues.push({
        path: `${path}.serviceOptions.${service}`,
        message: `options given for service "${service}", which this host does not list in "services"`,
      });
    }
  }

  let vhost = false;
  for (const service of host.services) {
    const entry = CATALOG[service];
    const opts = host.serviceOptions?.[service] ?? {};
    const optPath = `${path}.serviceOptions.${service}`;
    const skip = new Set(opts.skipUnits ?? []);
    checkServiceOptions(service, opts, optPath, issues);
    let streaming = opts.streamingProcesses ?? 0;
    if (service === "mastodon" && opts.streamingProcesses === undefined) {
      issues.push({
        path: `${optPath}.streamingProcesses`,
        message:
          "required for mastodon: set it to services.mastodon.streamingProcesses of this host (nixpkgs has no default, and NixGuard checks one unit per process)",
      });
      streaming = 0;
    }
    const catalogUnits = entry.units({ streamingProcesses: streaming });
    for (const u of catalogUnits)
      if (!skip.has(u.unit)) addUnit(u.unit, u.oneshot === true, service, !unitEnabled(u, opts.options));

    const explicitHost = opts.hostname;
    const hostname = explicitHost ?? (dep.fediversity ? `${service}.${dep.fediversity.domain}` : undefined);
    for (const check of entry.http) {
      if (check.when === "admin-api" && !opts.adminApi) continue;
      if (check.when === "no-admin-api" && opts.adminApi) continue;
      const override = opts.checks?.[check.name];
      if (override?.enable === false) continue;
      let url = override?.url;
      let resolve: string | undefined;
      let bearerTokenFile: string | undefined;
      let viaNginx = false;
      if (!url && check.via === "address") {
        const admin = check.when === "admin-api" ? opts.adminApi : undefined;
        const port = admin?.port ?? opts.port ?? check.defaultPort;
        url = `${opts.scheme ?? "http"}://${bracket(admin?.address ?? host.address)}:${port}${override?.path ?? check.path}`;
        bearerTokenFile = admin?.tokenFile;
      } else if (!url && service === "gotosocial" && explicitHost === undefined) {
        // The module binds 127.0.0.1:8080 and makes no vhost: reachable only on the host itself.
        if (host.address !== "localhost" && host.transport !== "local") {
          issues.push({
            path: `${optPath}.hostname`,
            message:
              "GoToSocial listens on 127.0.0.1:8080 and the nixpkgs module makes no vhost: name the vhost your proxy serves it on, or run NixGuard on that host (transport local)",
          });
          continue;
        }
        url = `http://127.0.0.1:${opts.port ?? 8080}${override?.path ?? check.path}`;
      } else if (!url) {
        if (!hostname) {
          issues.push({
            path: `${optPath}.hostname`,
            message: `service "${service}" needs a public hostname: set it here or a fediversity.domain on the deployment`,
          });
          continue;
        }
        const port = opts.port ? `:${opts.port}` : "";
        url = `${opts.scheme ?? "https"}://${hostname}${port}${override?.path ?? check.path}`;
        // Probe this host, not whatever the public name resolves to (a load balancer, another host).
        resolve = host.address;
        viaNginx = true;
      }
      const tied = check.units.flatMap((u) =>
        u === "streaming"
          ? catalogUnits.filter((c) => c.unit.startsWith("mastodon-streaming-")).map((c) => c.unit)
          : [u],
      );
      // A vhost check goes through nginx: restarting through it needs nginx up as well, so a
      // dead nginx (failing its own unit check) is restarted itself, not the apps behind it.
      if (viaNginx) vhost = true;
      const expectBody = override?.expectBody ?? check.expectBody;
      http.push({
        id: `http:${service}-${check.name}`,
        name: `${service}-${check.name}`,
        url,
        method: check.method ?? "GET",
        expectStatus: override?.expectStatus ?? check.expectStatus,
        ...(expectBody !== undefined ? { expectBody } : {}),
        timeoutMs: config.probes.timeout,
        followRedirects: false,
        tlsVerify: true,
        ...(resolve ? { resolve } : {}),
        ...(bearerTokenFile ? { bearerTokenFile } : {}),
        units: [
          ...(viaNginx && !skip.has(NGINX_UNIT) ? [NGINX_UNIT] : []),
          ...tied.filter((u) => !skip.has(u)),
        ],
        service,
      });
    }
  }
  if (vhost) addUnit(NGINX_UNIT, false);
  for (const unit of host.units) addUnit(unit, false);
  for (const unit of host.oneshotUnits) addUnit(unit, true);

  host.http.forEach((c, i) => {
    if (c.expectBodyRegex !== undefined) {
      try {
        new RegExp(c.expectBodyRegex);
      } catch (e) {
        issues.push({
          path: `${path}.http[${i}].expectBodyRegex`,
          message: `invalid regular expression: ${(e as Error).message}`,
          value: c.expectBodyRegex,
        });
      }
    }
    http.push({
      id: `http:${c.name}`,
      name: c.name,
      url: c.url,
      method: c.method,
      expectStatus: c.expectStatus,
      ...(c.expectBody !== undefined ? { expectBody: c.expectBody } : {}),
      ...(c.expectBodyRegex !== undefined ? { expectBodyRegex: c.expectBodyRegex } : {}),
      timeoutMs: c.timeout ?? config.probes.timeout,
      followRedirects: c.followRedirects,
      tlsVerify: c.tlsVerify,
      ...(c.caFile ? { caFile: c.caFile } : {}),
      ...(c.resolve ? { resolve: c.resolve } : {}),
      ...(c.bearerTokenFile ? { bearerTokenFile: c.bearerTokenFile } : {}),
      units: c.units,
    });
  });
  const ids = new Set<string>();
  http.forEach((c, i) => {
    if (ids.has(c.id))
      issues.push({
        path: `${path}.http[${i}].name`,
        message: `duplicate HTTP check name "${c.name}"`,
        value: c.name,
      });
    ids.add(c.id);
  });

  return {
    deployment,
    name,
    address: host.address,
    target: host.target ?? dep.target,
    ownTarget: host.target !== undefined,
    services: [...host.services],
    transport: transportFor(config, host, path, issues),
    // Exact-size copies: a pushed-to array keeps room for 17 elements, and every host keeps these
    // for the process' life.
    units: units.slice(),
    http: exactHttp(http),
  };
}

/**
 * The checks with exact-size `units` lists, each check object kept (assigned in place: a
 * `{ ...c, units }` copy got a hidden class of its own per object, ~310 B each).
 */
function exactHttp(http: HttpCheck[]): HttpCheck[] {
  for (const c of http) c.units = c.units.slice();
  return http.slice();
}

function transportFor(config: Config, host: HostConfig, path: string, issues: ConfigIssue[]): TransportSpec {
  const kind = host.transport ?? (host.address === "localhost" ? "local" : "ssh");
  if (kind === "local") return { kind };
  if (kind === "exporter") {
    if (!host.exporterUrl) {
      issues.push({
        path: `${path}.exporterUrl`,
        message: 'transport "exporter" needs exporterUrl (node_exporter /metrics URL)',
      });
      return { kind, url: "http://127.0.0.1:9100/metrics" };
    }
    return { kind, url: host.exporterUrl };
  }
  const identityFile = host.identityFile ?? config.ssh.identityFile;
  const knownHostsFile = host.knownHostsFile ?? config.ssh.knownHostsFile;
  return {
    kind: "ssh",
    command: config.ssh.command,
    address: host.address,
    user: host.user ?? config.ssh.user,
    port: host.port ?? config.ssh.port,
    ...(identityFile ? { identityFile } : {}),
    ...(knownHostsFile ? { knownHostsFile } : {}),
    connectTimeoutMs: config.ssh.connectTimeout,
    controlPersistMs: config.ssh.controlPersist,
    // A spec without it is per-probe, the config's default (persistent is opt-in).
    ...(config.ssh.session === "persistent" ? { session: "persistent" as const } : {}),
  };
}

/** Whether a catalog unit's module option is on: as configured, else nixpkgs' default. */
function unitEnabled(u: CatalogUnit, options: Record<string, boolean> | undefined): boolean {
  if (!u.conditional) return true;
  const { option, defaultOn } = u.conditional;
  if (option === undefined) return false;
  return options?.[option] ?? defaultOn;
}

function checkServiceOptions(
  service: ServiceName,
  opts: { options?: Record<string, boolean> | undefined; adminApi?: unknown },
  path: string,
  issues: ConfigIssue[],
): void {
  const known = catalogOptions(service);
  for (const name of Object.keys(opts.options ?? {}))
    if (!known.includes(name))
      issues.push({
        path: `${path}.options.${name}`,
        message: known.length
          ? `not an option NixGuard knows for ${service}: ${known.join(", ")}`
          : `${service} has no option that creates units`,
        value: name,
      });
  if (opts.adminApi !== undefined && service !== "garage")
    issues.push({ path: `${path}.adminApi`, message: "adminApi is for garage only" });
}

const bracket = (address: string) => (address.includes(":") ? `[${address}]` : address);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

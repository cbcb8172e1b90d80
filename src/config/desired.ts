import type { ConfigIssue } from "../errors.js";
import { CATALOG, DEFAULT_STREAMING_PROCESSES } from "./catalog.js";
import type { Config, DeploymentConfig, HostConfig, ServiceName } from "./schema.js";

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
    }
  | { kind: "local" }
  | { kind: "exporter"; url: string };

export interface UnitCheck {
  /** Check id, unique within the host; used as the `check` metric label. */
  id: string;
  unit: string;
  oneshot: boolean;
  service?: ServiceName;
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
    for (const service of Object.keys(CATALOG) as ServiceName[]) {
      const enabled = dep.fediversity[service]?.enable === true;
      const placed = hosts.some((h) => h.services.includes(service));
      if (enabled && !placed) {
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
  const addUnit = (unit: string, oneshot: boolean, service?: ServiceName) => {
    if (seenUnits.has(unit)) return;
    seenUnits.add(unit);
    units.push({ id: unit, unit, oneshot, ...(service ? { service } : {}) });
  };

  for (const [service] of Object.entries(host.serviceOptions ?? {})) {
    if (!host.services.includes(service as ServiceName)) {
      issues.push({
        path: `${path}.serviceOptions.${service}`,
        message: `options given for service "${service}", which this host does not list in "services"`,
      });
    }
  }

  for (const service of host.services) {
    const entry = CATALOG[service];
    const opts = host.serviceOptions?.[service] ?? {};
    const skip = new Set(opts.skipUnits ?? []);
    const streaming = opts.streamingProcesses ?? DEFAULT_STREAMING_PROCESSES;
    const catalogUnits = entry.units({ streamingProcesses: streaming });
    for (const u of catalogUnits) if (!skip.has(u.unit)) addUnit(u.unit, u.oneshot === true, service);

    const hostname = opts.hostname ?? (dep.fediversity ? `${service}.${dep.fediversity.domain}` : undefined);
    for (const check of entry.http) {
      const override = opts.checks?.[check.name];
      if (override?.enable === false) continue;
      let url = override?.url;
      let resolve: string | undefined;
      if (!url && check.via === "address") {
        const port = opts.port ?? check.defaultPort;
        url = `${opts.scheme ?? "http"}://${bracket(host.address)}:${port}${override?.path ?? check.path}`;
      } else if (!url) {
        if (!hostname) {
          issues.push({
            path: `${path}.serviceOptions.${service}.hostname`,
            message: `service "${service}" needs a public hostname: set it here or a fediversity.domain on the deployment`,
          });
          continue;
        }
        const port = opts.port ? `:${opts.port}` : "";
        url = `${opts.scheme ?? "https"}://${hostname}${port}${override?.path ?? check.path}`;
        // Probe this host, not whatever the public name resolves to (a load balancer, another host).
        resolve = host.address;
      }
      const tied = check.units.flatMap((u) =>
        u === "streaming"
          ? catalogUnits.filter((c) => c.unit.startsWith("mastodon-streaming-")).map((c) => c.unit)
          : [u],
      );
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
        units: tied.filter((u) => !skip.has(u)),
        service,
      });
    }
  }
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
  };
}

const bracket = (address: string) => (address.includes(":") ? `[${address}]` : address);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Daemon, startDaemon } from "../fault-daemon.js";
import { api } from "../fault-fleet.js";
import type { RealHost } from "./host.js";

/**
 * A real NixGuard daemon (`nixguard serve`) watching real hosts: its config directory, an admin
 * token, each host reached over NixGuard's own ssh transport with the host's key files. The
 * caller gives the sections that matter to its test; the rest are NixGuard's defaults.
 */
export interface RealhostDaemonOptions {
  redisUrl: string;
  prefix: string;
  probes: Record<string, unknown>;
  remediation: Record<string, unknown>;
  nixops4Command: string;
  /** Deployment → flake directory, target, and each host with the units NixGuard checks. */
  deployments: Record<
    string,
    { flake: string; target: string; hosts: Record<string, { host: RealHost; units: string[] }> }
  >;
  worker?: Record<string, unknown>;
}

export interface RealhostEvent {
  kind: string;
  host?: string;
  action?: string;
  outcome?: string;
  reason?: string;
  deployment?: string;
  jobId?: string;
  time: number;
}

export interface RealhostDaemon {
  d: Daemon;
  /** Sends `body` as POST when given; the admin token always. */
  api: (path: string, body?: unknown) => ReturnType<typeof api>;
  /** Oldest first, as the API answers. */
  events: () => Promise<RealhostEvent[]>;
  /** Removes its directory (the daemon itself: killAllDaemons). */
  cleanup: () => void;
}

export async function startRealhostDaemon(o: RealhostDaemonOptions): Promise<RealhostDaemon> {
  const dir = mkdtempSync(join(tmpdir(), "nixguard-realhost-"));
  const admin = `${o.prefix}-${Date.now()}`;
  const tokenFile = join(dir, "admin.token");
  writeFileSync(tokenFile, `${admin}\n`, { mode: 0o600 });
  const deployments = Object.fromEntries(
    Object.entries(o.deployments).map(([name, dep]) => [
      name,
      {
        flake: dep.flake,
        target: dep.target,
        hosts: Object.fromEntries(
          Object.entries(dep.hosts).map(([h, { host, units }]) => [
            h,
            {
              address: host.address,
              user: "root",
              identityFile: host.identityFile,
              knownHostsFile: host.knownHostsFile,
              units,
            },
          ]),
        ),
      },
    ]),
  );
  const config = {
    redis: { url: o.redisUrl, prefix: o.prefix },
    state: { dir: join(dir, "state"), runtimeDir: join(dir, "run") },
    api: { tokens: [{ name: "ops", file: tokenFile, scope: "admin" }] },
    // A container reports the build machine's load: not the host's own trouble here.
    probes: { thresholds: { loadPerCpu: 1000 }, ...o.probes },
    remediation: o.remediation,
    nixops4: { command: o.nixops4Command, timeout: "2m" },
    worker: o.worker ?? { concurrency: 2, shutdownGrace: "5s" },
    leader: { lease: "3s", renew: "1s" },
    deployments,
  };
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  try {
    const d = await startDaemon({ config: file, timeoutMs: 60_000 });
    const call = (path: string, body?: unknown) =>
      api(d.url, path, { token: admin, ...(body !== undefined ? { body } : {}) });
    return {
      d,
      api: call,
      events: async () => (await call("/api/v1/events?limit=1000")).body as RealhostEvent[],
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

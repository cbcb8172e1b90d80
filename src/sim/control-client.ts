import type { HostSummary } from "./control-api.js";
import type { ActiveFault, FaultSpec } from "./faults.js";
import type { RestartOutcome, SimUnit } from "./fleet.js";
import type { ApplyRun, Nixops4Behavior } from "./nixops4.js";

export interface HostDetail extends HostSummary {
  units: (SimUnit & { activeEnterTimestamp: string })[];
  disk: { sizeBytes: number; usedBytes: number };
  load: [number, number, number];
}

export class SimControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = "SimControlError";
  }
}

/** Typed client for the simulator's /sim control API (demo, tests, benchmarks). */
export class SimControlClient {
  private readonly base: string;

  constructor(url: string) {
    this.base = url.replace(/\/$/, "");
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}/sim${path}`, {
      method,
      ...(body !== undefined
        ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
        : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const data = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new SimControlError(res.status, data.error ?? `HTTP ${res.status}`);
    return data;
  }

  health = () => this.call<{ ok: boolean; hosts: number }>("GET", "/health");
  hosts = () => this.call<HostSummary[]>("GET", "/hosts");
  host = (name: string) => this.call<HostDetail>("GET", `/hosts/${encodeURIComponent(name)}`);
  inject = (fault: FaultSpec) => this.call<ActiveFault>("POST", "/faults", fault);
  faults = () => this.call<ActiveFault[]>("GET", "/faults");
  heal = (id: string) => this.call<{ healed: string }>("DELETE", `/faults/${encodeURIComponent(id)}`);
  healAll = () => this.call<{ healed: true }>("POST", "/heal");
  restart = (host: string, units: string[]) =>
    this.call<RestartOutcome[]>("POST", `/hosts/${encodeURIComponent(host)}/restart`, { units });
  /** A new desired generation for the host (a flake change), not yet deployed. */
  bumpGeneration = (host: string) =>
    this.call<{ desiredSystem: string }>("POST", `/hosts/${encodeURIComponent(host)}/generation`);
  /** Applies a target at once, without nixops4 (for tests that only need the effect). */
  deploy = (target: string, newGeneration = false) =>
    this.call<{ hosts: string[] }>("POST", "/deploy", { target, newGeneration });
  nixops4 = () => this.call<Nixops4Behavior>("GET", "/nixops4");
  setNixops4 = (b: Partial<Nixops4Behavior>) => this.call<Nixops4Behavior>("PUT", "/nixops4", b);
  applyRuns = () => this.call<ApplyRun[]>("GET", "/nixops4/runs");
}

import {
  CATALOG,
  type CatalogHttpCheck,
  type CatalogUnit,
  DEFAULT_STREAMING_PROCESSES,
  NGINX_UNIT,
} from "../config/catalog.js";
import type { ServiceName } from "../config/schema.js";
import { type ActiveFault, type ClearedBy, defaultClearedBy, type FaultSpec } from "./faults.js";
import { layoutHosts, type SimHostDef, type SimLayout } from "./layout.js";
import { newProfile, type SimProfile, setProfile } from "./nixos-profile.js";
import { systemStorePath } from "./store-path.js";
import {
  EXITED,
  exitedUnit,
  failedRunUnit,
  KILLED,
  loadedUnit,
  notFoundUnit,
  type SimUnit,
  startedUnit,
  startLimitedUnit,
  stopHungUnit,
  stoppedUnit,
} from "./unit-life.js";

export { notFoundUnit, type SimUnit } from "./unit-life.js";

export interface SimHost {
  def: SimHostDef;
  units: Map<string, SimUnit>;
  generation: number;
  currentSystem: string;
  /** The system profile's generation links (nixos-profile.ts). */
  profile: SimProfile;
  diskSizeBytes: number;
  diskUsedBytes: number;
  load: [number, number, number];
  cpus: number;
  /** Reads of its systemd state (ssh `systemctl show`, exporter scrape): drives "every other probe" flaps. */
  reads: number;
  /** When the host booted (epoch ms): systemd's monotonic timestamps count from it. */
  bootAt: number;
}

export interface RestartOutcome {
  unit: string;
  /** hung: the unit's stop hangs, so `systemctl restart` never returns. */
  outcome: "ok" | "not-found" | "failed" | "hung";
}

export type HttpVerdict =
  | { kind: "ok"; delayMs: number }
  | { kind: "status"; status: number; delayMs: number }
  /** Nothing listens: the upstream service itself is down (no proxy in front). */
  | { kind: "refused" }
  | { kind: "hang" };

export interface FleetOptions {
  now?: () => number;
}

const ACTIVE_SINCE = Date.UTC(2026, 10, 23, 10, 0, 0);
const BOOTED_AT = ACTIVE_SINCE - 12_000;
const DEFAULT_DISK_USED = 32_212_254_720;
const DEFAULT_LOAD: [number, number, number] = [0.15, 0.2, 0.1];

function serviceType(unit: string): string {
  if (!unit.endsWith(".service")) return "";
  // nixpkgs: redis and php-fpm use sd_notify; the rest run Type=simple.
  if (unit.startsWith("redis-") || unit.startsWith("phpfpm-")) return "notify";
  return "simple";
}

/** A unit as the host's boot (or a switch) left it: running, waiting, or its oneshot run done. */
function bootedUnit(id: string, oneshot: boolean, at: number, pid: number): SimUnit {
  const service = id.endsWith(".service");
  const unit = loadedUnit(id, {
    oneshot,
    type: oneshot ? "oneshot" : serviceType(id),
    // nixpkgs: long-running services mostly restart on failure.
    restart: service && !oneshot ? "on-failure" : "no",
  });
  return startedUnit(unit, at, pid);
}

/** A PID for a unit's nth process: stable per host, unit and run (PIDs are masked in comparisons). */
function pidFor(host: string, unit: string, run: number): number {
  let h = 0;
  for (const c of `${host}/${unit}`) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 1000 + ((h + run * 7) % 60000);
}

/** RestartUSec as systemctl prints it: `100ms`, `5s`, `1min 30s`. */
function usec(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const min = Math.floor(ms / 60_000);
  const rest = (ms % 60_000) / 1000;
  return min > 0 ? (rest > 0 ? `${min}min ${rest}s` : `${min}min`) : `${rest}s`;
}

/** A unit is "up" for the HTTP endpoints that depend on it. */
export const unitUp = (u: SimUnit | undefined) =>
  u !== undefined &&
  u.loadState === "loaded" &&
  (u.oneshot ? u.result === "success" : u.activeState === "active");

/** The simulated fleet: all state in memory, mutated only through these methods. */
export class Fleet {
  readonly layout: SimLayout;
  readonly now: () => number;
  private readonly byName = new Map<string, SimHost>();
  private readonly byAddress = new Map<string, SimHost>();
  private readonly byHostname = new Map<string, { host: SimHost; service: ServiceName }>();
  private faults: ActiveFault[] = [];
  private faultSeq = 0;
  private pidSeq = 0;
  private jobSeq = 100;
  private readonly checkReads = new Map<string, number>();
  private readonly switches = new Map<string, { code?: number; land: () => number }>();
  private switchSeq = 0;

  constructor(layout: SimLayout, opts: FleetOptions = {}) {
    this.layout = layout;
    this.now = opts.now ?? Date.now;
    for (const def of layoutHosts(layout)) {
      const host = this.freshHost(def, 1);
      this.byName.set(def.name, host);
      this.byAddress.set(def.address, host);
      for (const [service, hostname] of Object.entries(def.hostnames))
        this.byHostname.set(hostname.toLowerCase(), { host, service: service as ServiceName });
    }
  }

  get size(): number {
    return this.byName.size;
  }

  hosts(): SimHost[] {
    return [...this.byName.values()];
  }

  /** By host name or address. */
  host(key: string): SimHost | undefined {
    return this.byName.get(key) ?? this.byAddress.get(key);
  }

  vhost(hostname: string): { host: SimHost; service: ServiceName } | undefined {
    return this.byHostname.get(hostname.toLowerCase());
  }

  activeFaults(): readonly ActiveFault[] {
    return this.faults;
  }

  desiredSystem(host: SimHost): string {
    return systemStorePath(host.def.name, host.generation);
  }

  // ---- systemd view -------------------------------------------------------------------------

  /** The unit as a probe sees it now (flaps applied). Counts nothing; see `noteRead`. */
  unit(host: SimHost, id: string): SimUnit | undefined {
    const base = host.units.get(id);
    if (!base) return undefined;
    let flap: ActiveFault | undefined;
    for (const f of this.faults) {
      if (f.spec.host !== host.def.name || !("unit" in f.spec) || f.spec.unit !== id) continue;
      if (f.spec.kind === "crash-loop" && base.activeState !== "deactivating")
        return this.crashLoopView(f, base, host);
      if (f.spec.kind === "flap") flap = f;
    }
    if (!flap || !this.flapFailing(flap, host.reads)) return base;
    return exitedUnit(base, flap.since, 1, EXITED, false);
  }

  /** A probe read this host's systemd state (flaps that fail "every other probe" advance). */
  noteRead(host: SimHost): void {
    host.reads++;
  }

  unreachable(host: SimHost): Extract<FaultSpec, { kind: "unreachable" }> | undefined {
    const f = this.faults.find((x) => x.spec.kind === "unreachable" && x.spec.host === host.def.name);
    return f?.spec as Extract<FaultSpec, { kind: "unreachable" }> | undefined;
  }

  hostKeyChanged(host: SimHost): boolean {
    return this.faults.some((f) => f.spec.kind === "host-key" && f.spec.host === host.def.name);
  }

  /**
   * `systemctl restart UNIT…`: each unit comes back unless a fault keeps it failing; a unit whose
   * stop hangs stays deactivating and the restart never returns; a crash loop starts over (an
   * explicit restart sets NRestarts back to 0) and goes on.
   */
  restart(hostKey: string, units: readonly string[]): RestartOutcome[] {
    const host = this.mustHost(hostKey);
    const at = this.now();
    return units.map((id): RestartOutcome => {
      const u = host.units.get(id);
      if (u?.loadState !== "loaded") return { unit: id, outcome: "not-found" };
      const fault = (kind: FaultSpec["kind"]) =>
        this.faults.find(
          (f) =>
            f.spec.kind === kind && f.spec.host === host.def.name && "unit" in f.spec && f.spec.unit === id,
        );
      if (fault("hung-stop")) {
        // The restart job merges into the running one: the stop still hangs.
        if (u.activeState !== "deactivating") host.units.set(id, stopHungUnit(u, at, ++this.jobSeq));
        return { unit: id, outcome: "hung" };
      }
      const failing = fault("unit-fail");
      if ((failing?.spec.kind === "unit-fail" && failing.spec.keepFailing) || this.brokenHere(host, id)) {
        host.units.set(id, failedRunUnit(u, at, pidFor(host.def.name, id, ++this.pidSeq), 1));
        return { unit: id, outcome: "failed" };
      }
      const loop = fault("crash-loop");
      if (loop) loop.since = at;
      // An explicit start resets NRestarts (systemd counts automatic restarts since the last one).
      host.units.set(id, startedUnit(u, at, pidFor(host.def.name, id, ++this.pidSeq)));
      this.clearFaults(
        (f) =>
          f.clearedBy === "restart" && f.spec.host === host.def.name && this.faultTouches(f.spec, host, id),
      );
      return { unit: id, outcome: "ok" };
    });
  }

  /**
   * A unit in a crash loop at this moment: it runs `upMs`, dies with `exitCode`, waits
   * `restartSecMs` in auto-restart, and runs again — for ever, NRestarts climbing by one a cycle
   * (Restart=always with a RestartSec the start limit never catches, as on real systemd).
   */
  private crashLoopView(f: ActiveFault, base: SimUnit, host: SimHost): SimUnit {
    if (f.spec.kind !== "crash-loop") return base;
    const upMs = f.spec.upMs ?? 2_000;
    const restartSecMs = f.spec.restartSecMs ?? 5_000;
    const exitCode = f.spec.exitCode ?? 3;
    const cycle = upMs + restartSecMs;
    const elapsed = Math.max(0, this.now() - f.since);
    const k = Math.floor(elapsed / cycle);
    const startAt = f.since + k * cycle;
    let u: SimUnit = { ...base, restart: "always", restartUSec: usec(restartSecMs) };
    const pid = (run: number) => pidFor(host.def.name, base.id, run);
    // How the previous run ended (its exit, its auto-restart) stays in the ExecMain* and timestamps.
    if (k > 0)
      u = exitedUnit(startedUnit(u, startAt - cycle, pid(k - 1), k - 1), startAt - restartSecMs, exitCode);
    u = startedUnit(u, startAt, pid(k), k);
    return elapsed - k * cycle < upMs ? u : exitedUnit(u, startAt + upMs, exitCode);
  }

  // ---- HTTP view ------------------------------------------------------------------------------

  /** What an HTTP check of this host's service answers right now. Counts one request. */
  http(host: SimHost, service: ServiceName, check: CatalogHttpCheck): HttpVerdict {
    if (this.unreachable(host)) return { kind: "hang" };
    const name = `${service}-${check.name}`;
    const key = `${host.def.name}/${name}`;
    const reads = (this.checkReads.get(key) ?? 0) + 1;
    this.checkReads.set(key, reads);
    const tied = this.tiedUnits(host, check);
    const unitsUp = tied.every((id) => unitUp(this.unit(host, id)));
    if (!unitsUp)
      return check.via === "address" ? { kind: "refused" } : { kind: "status", status: 502, delayMs: 0 };
    let delayMs = 0;
    for (const f of this.faults) {
      if (f.spec.host !== host.def.name) continue;
      if (f.spec.kind === "flap" && f.spec.check === name && this.flapFailing(f, reads))
        return { kind: "status", status: 502, delayMs: 0 };
      if (f.spec.kind === "http" && f.spec.check === name) {
        delayMs = Math.max(delayMs, f.spec.delayMs ?? 0);
        if (f.spec.status !== undefined || f.spec.delayMs === undefined)
          return { kind: "status", status: f.spec.status ?? 502, delayMs };
      }
    }
    return { kind: "ok", delayMs };
  }

  tiedUnits(host: SimHost, check: CatalogHttpCheck): string[] {
    return check.units
      .flatMap((u) =>
        u === "streaming" ? [...host.units.keys()].filter((id) => id.startsWith("mastodon-streaming-")) : [u],
      )
      .filter((id) => host.units.has(id));
  }

  // ---- faults ---------------------------------------------------------------------------------

  inject(spec: FaultSpec): ActiveFault {
    const host = this.mustHost(spec.host);
    const normalized = { ...spec, host: host.def.name } as FaultSpec;
    const at = this.now();
    const unitOf = (id: string) => {
      const u = host.units.get(id);
      if (!u) throw new SimError("SIM_NOT_FOUND", `host ${host.def.name} has no unit ${id}`);
      return u;
    };
    let clearedBy: ClearedBy = defaultClearedBy(normalized);
    let broken: string | undefined;
    switch (normalized.kind) {
      case "unit-fail": {
        const u = unitOf(normalized.unit);
        const result = normalized.result ?? "exit-code";
        const failed =
          result === "start-limit-hit"
            ? startLimitedUnit(u, at)
            : result === "signal"
              ? exitedUnit(u, at, 9, KILLED, false)
              : exitedUnit(u, at, 1, EXITED, false);
        if (result !== "start-limit-hit" && result !== "signal") failed.result = result;
        host.units.set(normalized.unit, failed);
        if (!normalized.keepFailing) clearedBy = "restart";
        break;
      }
      case "unit-stop":
        host.units.set(normalized.unit, stoppedUnit(unitOf(normalized.unit), at));
        break;
      case "unit-missing":
        unitOf(normalized.unit);
        host.units.set(normalized.unit, notFoundUnit(normalized.unit));
        break;
      case "crash-loop":
      case "hung-stop": {
        const u = unitOf(normalized.unit);
        if (!u.id.endsWith(".service") || u.oneshot)
          throw new SimError(
            "SIM_BAD_REQUEST",
            `${normalized.kind} needs a long-running service, not ${u.id}`,
          );
        break;
      }
      case "drift":
        host.currentSystem = systemStorePath(host.def.name, host.generation, `drift-${++this.faultSeq}`);
        break;
      case "broken-generation":
        unitOf(normalized.unit);
        // The flake's next commit is the broken one; it breaks the host when a deploy brings it.
        broken = this.bumpGeneration(host.def.name);
        break;
      case "resources":
        if (normalized.diskUsedFraction !== undefined)
          host.diskUsedBytes = Math.round(
            host.diskSizeBytes * Math.min(1, Math.max(0, normalized.diskUsedFraction)),
          );
        if (normalized.load) host.load = normalized.load;
        break;
      case "flap":
        if (normalized.unit) unitOf(normalized.unit);
        break;
      default:
        break;
    }
    const fault: ActiveFault = {
      id: `f${++this.faultSeq}`,
      spec: normalized,
      since: at,
      clearedBy,
      ...(broken ? { system: broken } : {}),
    };
    if (normalized.kind === "flap")
      fault.baseCount = normalized.unit
        ? host.reads
        : (this.checkReads.get(`${host.def.name}/${normalized.check}`) ?? 0);
    this.faults.push(fault);
    return fault;
  }

  /** Ends one fault and undoes what it changed (the unit, the system, the resources). */
  heal(id: string): boolean {
    const f = this.faults.find((x) => x.id === id);
    if (!f) return false;
    this.clearFaults((x) => x === f);
    const host = this.mustHost(f.spec.host);
    const spec = f.spec;
    if ("unit" in spec && spec.unit && spec.kind !== "flap") {
      const u = host.units.get(spec.unit);
      if (u)
        host.units.set(
          spec.unit,
          bootedUnit(spec.unit, u.oneshot, this.now(), this.nextPid(host, spec.unit)),
        );
    }
    if (spec.kind === "drift") host.currentSystem = this.desiredSystem(host);
    if (spec.kind === "resources") {
      host.diskUsedBytes = DEFAULT_DISK_USED;
      host.load = [...DEFAULT_LOAD];
    }
    return true;
  }

  /** Everything back to the desired state, every fault gone. */
  healAll(): void {
    this.faults = [];
    this.checkReads.clear();
    for (const host of this.byName.values()) {
      this.restoreHost(host, this.desiredSystem(host));
      setProfile(host.profile, host.currentSystem);
    }
  }

  // ---- deploys ------------------------------------------------------------------------------

  /** Hosts a nixops4 target covers: a deployment's target, a host's own dot path, or a prefix of it. */
  resolveTarget(target: string): SimHost[] | undefined {
    const dep = this.layout.deployments.find((d) => d.target === target);
    if (dep) return dep.hosts.map((h) => this.mustHost(h.name));
    const hosts = this.hosts().filter(
      (h) => h.def.target === target || h.def.target.startsWith(`${target}.`),
    );
    return hosts.length > 0 ? hosts : undefined;
  }

  /**
   * What a deploy does to one host (nixops4-nixos: `nix-env --set` the profile, then
   * switch-to-configuration switch): its desired system current, units as declared. Returns the
   * units that failed to start on it (the switch then exits 4, the apply fails).
   */
  applyDeploy(host: SimHost, newGeneration = false): string[] {
    if (newGeneration) host.generation++;
    setProfile(host.profile, this.desiredSystem(host));
    return this.switchSystem(host.def.name, this.desiredSystem(host));
  }

  /**
   * `switch-to-configuration switch` of `system` (a deploy's, or a rollback's in a transient
   * unit): /run/current-system is it, units as declared, faults a switch ends are gone. The
   * units that failed to start on it.
   */
  switchSystem(hostKey: string, system: string): string[] {
    const host = this.mustHost(hostKey);
    this.clearFaults(
      (f) => f.spec.host === host.def.name && (f.clearedBy === "deploy" || f.clearedBy === "restart"),
    );
    this.restoreHost(host, system);
    return [...host.units.values()].filter((u) => u.activeState === "failed").map((u) => u.id);
  }

  /**
   * A switch in a transient unit (systemd-run): it lands `ms` later whether or not its client
   * still waits, as the unit runs on without it. `finishSwitch` lands it at once if the timer has
   * not yet, and says how switch-to-configuration exited (4: units failed).
   */
  startSwitch(hostKey: string, system: string, ms: number): string {
    const id = `sw${++this.switchSeq}`;
    const entry: { code?: number; land: () => number } = {
      land: () => {
        clearTimeout(timer);
        entry.code ??= this.switchSystem(hostKey, system).length > 0 ? 4 : 0;
        return entry.code;
      },
    };
    const timer = setTimeout(entry.land, ms);
    timer.unref();
    this.switches.set(id, entry);
    return id;
  }

  finishSwitch(id: string): number | undefined {
    const entry = this.switches.get(id);
    this.switches.delete(id);
    return entry?.land();
  }

  /** A new flake commit: the desired system changes, not yet deployed. */
  bumpGeneration(hostKey: string): string {
    const host = this.mustHost(hostKey);
    host.generation++;
    return this.desiredSystem(host);
  }

  // ---- internals ------------------------------------------------------------------------------

  private freshHost(def: SimHostDef, generation: number): SimHost {
    const system = systemStorePath(def.name, generation);
    const host: SimHost = {
      def,
      units: new Map(),
      generation,
      currentSystem: system,
      profile: newProfile(system),
      diskSizeBytes: 107_374_182_400,
      diskUsedBytes: DEFAULT_DISK_USED,
      load: [...DEFAULT_LOAD],
      cpus: 4,
      reads: 0,
      bootAt: BOOTED_AT,
    };
    this.restoreHost(host, system);
    return host;
  }

  /** `unit` fails on the system the host runs now (a broken generation). */
  private brokenHere(host: SimHost, unit: string): boolean {
    return this.faults.some(
      (f) =>
        f.spec.kind === "broken-generation" &&
        f.spec.host === host.def.name &&
        f.spec.unit === unit &&
        f.system === host.currentSystem,
    );
  }

  private restoreHost(host: SimHost, system: string): void {
    const keep = new Map(host.units);
    host.units.clear();
    // nginx serves every vhost: a host with a vhost-checked service runs it.
    const vhost = host.def.services.some((s) => CATALOG[s].http.some((c) => c.via === "vhost"));
    const nginx: CatalogUnit[] = vhost ? [{ unit: NGINX_UNIT }] : [];
    for (const service of host.def.services) {
      for (const u of [
        ...CATALOG[service].units({ streamingProcesses: DEFAULT_STREAMING_PROCESSES }),
        ...nginx,
      ]) {
        const old = keep.get(u.unit);
        // A switch leaves running units running (same ActiveEnterTimestamp) and starts the rest.
        host.units.set(
          u.unit,
          old && unitUp(old) && old.loadState === "loaded"
            ? old
            : bootedUnit(
                u.unit,
                u.oneshot === true,
                old ? this.now() : ACTIVE_SINCE,
                this.nextPid(host, u.unit),
              ),
        );
      }
    }
    host.currentSystem = system;
    // A broken generation's unit starts and exits at once, on every start.
    for (const [id, u] of host.units)
      if (this.brokenHere(host, id))
        host.units.set(id, failedRunUnit(u, this.now(), this.nextPid(host, id), 1));
    host.diskUsedBytes = DEFAULT_DISK_USED;
    host.load = [...DEFAULT_LOAD];
  }

  private nextPid(host: SimHost, unit: string): number {
    return pidFor(host.def.name, unit, ++this.pidSeq);
  }

  private clearFaults(pred: (f: ActiveFault) => boolean): void {
    this.faults = this.faults.filter((f) => !pred(f));
  }

  private faultTouches(spec: FaultSpec, host: SimHost, unit: string): boolean {
    if ("unit" in spec && spec.unit !== undefined) return spec.unit === unit;
    if (spec.kind === "http") {
      for (const service of host.def.services)
        for (const check of CATALOG[service].http)
          if (`${service}-${check.name}` === spec.check) return this.tiedUnits(host, check).includes(unit);
    }
    return false;
  }

  /** Failing first, then healthy, alternating: per read since the fault began, or per period. */
  private flapFailing(f: ActiveFault, count: number): boolean {
    if (f.spec.kind !== "flap") return false;
    if (f.spec.periodMs && f.spec.periodMs > 0)
      return Math.floor((this.now() - f.since) / f.spec.periodMs) % 2 === 0;
    return (count - (f.baseCount ?? 0)) % 2 === 1;
  }

  private mustHost(key: string): SimHost {
    const host = this.host(key);
    if (!host) throw new SimError("SIM_NOT_FOUND", `no simulated host ${JSON.stringify(key)}`);
    return host;
  }
}

export class SimError extends Error {
  readonly code: "SIM_NOT_FOUND" | "SIM_BAD_REQUEST";
  constructor(code: "SIM_NOT_FOUND" | "SIM_BAD_REQUEST", message: string) {
    super(message);
    this.code = code;
    this.name = "SimError";
  }
}

import type { HostSpec, HttpCheck } from "../config/desired.js";
import type { Abortable } from "./cancel.js";
import type { GenerationListing } from "./systemd/generations.js";

/** One unit as `systemctl show` reports it. Values are systemd's own strings. */
export interface UnitState {
  id: string;
  loadState: string; // loaded | not-found | bad-setting | error | masked
  activeState: string; // active | inactive | failed | activating | deactivating | reloading | maintenance
  subState: string; // running | exited | dead | failed | waiting | start | stop-sigterm | ...
  result: string; // success | exit-code | signal | core-dump | timeout | ...
  nRestarts: number;
  type: string; // simple | exec | forking | oneshot | notify | dbus | idle | "" (timers, sockets)
  /** Epoch ms, or undefined when systemd printed an empty value. */
  activeEnterTimestamp?: number;
  /**
   * Services: how the main process last ended (ExecMainCode: 1 exited, 2 killed, 3 dumped core; 0
   * while it runs or never ran) and its exit status or signal number (ExecMainStatus).
   */
  execMainCode?: number;
  execMainStatus?: number;
  /** `yes`/`no`: whether the unit's Condition*= held the last time they were checked. */
  conditionResult?: string;
  /** Epoch ms the conditions were last checked; undefined when never (a unit loaded afresh). */
  conditionTimestamp?: number;
  /** Timers: the unit the timer starts (systemd's `Unit=`). */
  triggers?: string;
}

export interface DiskUsage {
  mount: string;
  sizeBytes: number;
  usedBytes: number;
  usedFraction: number;
}

/** Everything one transport call returns about one host. */
export interface HostFacts {
  units: Record<string, UnitState>;
  /** Target of /run/current-system (a store path), when the transport can read it. */
  currentSystem?: string;
  disks: DiskUsage[];
  load?: [number, number, number];
  cpus?: number;
}

/** How NixGuard reaches one host's systemd. One instance per host; cheap to create. */
export interface Transport {
  readonly kind: "ssh" | "local" | "exporter";
  /** It can run `systemctl restart` (capabilities.ts); the exporter transport is read-only. */
  readonly canRestart: boolean;
  /** One round trip: every listed unit, current system, disks, load. Rejects with ProbeError codes. */
  fetch(units: readonly string[], signal: Abortable): Promise<HostFacts>;
  /** `systemctl restart UNIT...`; rejects with CommandError on failure. Exporter transport cannot. */
  restart(units: readonly string[], signal: Abortable): Promise<void>;
  /** System profile generations still on the host (ssh, local; the exporter cannot read them). */
  generations?(signal: Abortable): Promise<GenerationListing>;
  /**
   * Set the system profile to `path` and run its switch-to-configuration in the transient unit
   * `unit` (systemd/generations.ts). Rejects with CommandError; exit 3: the path is not on the host.
   */
  switchSystem?(path: string, unit: string, signal: Abortable): Promise<void>;
  close(): Promise<void>;
}

export type ProbeResultKind = "ok" | "fail" | "error" | "timeout" | "skipped";

export interface HttpResult {
  check: string; // HttpCheck.id
  ok: boolean;
  result: ProbeResultKind;
  status?: number;
  durationMs: number;
  /** Short human reason: `GET https://mastodon.example.org/health → 502 in 31 ms`. */
  reason: string;
  /** Epoch ms when the leaf certificate expires (https only). */
  tlsExpiresAt?: number;
}

/** One probe cycle's view of one host. */
export interface HostObservation {
  deployment: string;
  host: string;
  at: number; // epoch ms when the probe started
  durationMs: number;
  /** False when the transport itself failed: the host is unreachable, not its services. */
  reachable: boolean;
  error?: { code: string; message: string };
  facts?: HostFacts;
  http: HttpResult[];
  /** The member that probed it, when several processes share the probing (runtime/probing.ts). */
  prober?: string;
}

export type HttpProbe = (check: HttpCheck, signal: Abortable) => Promise<HttpResult>;
export type TransportFactory = (host: HostSpec) => Transport;

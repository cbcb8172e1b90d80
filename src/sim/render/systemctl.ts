import { type Fleet, notFoundUnit, type SimHost, type SimUnit } from "../fleet.js";
import type { CommandResult } from "./result.js";

/**
 * `systemctl` as a NixOS host's systemd answers it, for the verbs NixGuard uses. The output
 * follows systemd's own rules (systemctl-show.c, bus-print-properties.c):
 * - properties print in the order of the unit's D-Bus vtables (type-specific interface first,
 *   then org.freedesktop.systemd1.Unit), never in the order asked for;
 * - an explicitly requested property prints even when empty;
 * - units are separated by one blank line; unknown property names print nothing;
 * - a unit that does not exist still prints, with LoadState=not-found.
 */

// The properties the simulator knows, in the order systemd 252 prints them (its D-Bus vtables:
// test/fixtures/golden/systemctl/real/*/full.txt).
const SERVICE_PROPS = [
  "Type",
  "Restart",
  "RestartUSec",
  "RemainAfterExit",
  "MainPID",
  "Result",
  "NRestarts",
  "ExecMainStartTimestamp",
  "ExecMainExitTimestamp",
  "ExecMainPID",
  "ExecMainCode",
  "ExecMainStatus",
] as const;
const TIMER_PROPS = ["Unit", "Result"] as const;
const UNIT_PROPS = [
  "Id",
  "Names",
  "Description",
  "LoadState",
  "ActiveState",
  "SubState",
  "FragmentPath",
  "UnitFileState",
  "StateChangeTimestamp",
  "StateChangeTimestampMonotonic",
  "InactiveExitTimestamp",
  "InactiveExitTimestampMonotonic",
  "ActiveEnterTimestamp",
  "ActiveEnterTimestampMonotonic",
  "ActiveExitTimestamp",
  "ActiveExitTimestampMonotonic",
  "InactiveEnterTimestamp",
  "InactiveEnterTimestampMonotonic",
  "Job",
  "ConditionResult",
  "ConditionTimestamp",
  "StartLimitIntervalUSec",
  "StartLimitBurst",
] as const;

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const pad = (n: number) => String(n).padStart(2, "0");

export type TimestampStyle = "pretty" | "us" | "utc" | "us+utc" | "unix";
export const TIMESTAMP_STYLES: readonly TimestampStyle[] = ["pretty", "us", "utc", "us+utc", "unix"];

/**
 * A timestamp as `systemctl --timestamp=STYLE` prints it (the simulated hosts run in UTC):
 * pretty/utc `Mon 2026-11-23 10:00:00 UTC`, us `…10:00:00.000000 UTC`, unix `@1795428000`.
 */
export function systemdTimestamp(ms: number | undefined, style: TimestampStyle = "pretty"): string {
  if (ms === undefined) return "";
  if (style === "unix") return `@${Math.floor(ms / 1000)}`;
  const d = new Date(ms);
  const micros =
    style === "us" || style === "us+utc" ? `.${String(d.getUTCMilliseconds()).padStart(3, "0")}000` : "";
  return `${DAYS[d.getUTCDay()]} ${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(
    d.getUTCHours(),
  )}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${micros} UTC`;
}

/** systemd appends ".service" to a name without a unit type suffix. */
export function unitArg(name: string): string {
  return /\.(service|socket|timer|target|mount|automount|path|slice|scope|device|swap)$/.test(name)
    ? name
    : `${name}.service`;
}

/** CLOCK_MONOTONIC in µs, as systemd prints `…TimestampMonotonic`: time since the host booted. */
const monotonic = (host: SimHost, ms: number | undefined) =>
  ms === undefined ? "0" : String(Math.max(0, Math.round((ms - host.bootAt) * 1000)));

function propertyValue(host: SimHost, u: SimUnit, name: string, style: TimestampStyle): string {
  const found = u.loadState !== "not-found";
  const ts = (ms: number | undefined) => systemdTimestamp(ms, style);
  switch (name) {
    case "Type":
      return u.type;
    case "Restart":
      return u.restart;
    case "RestartUSec":
      return u.restartUSec;
    case "RemainAfterExit":
      return u.remainAfterExit ? "yes" : "no";
    case "MainPID":
      return String(u.mainPid);
    case "Result":
      return u.result;
    case "NRestarts":
      return String(u.nRestarts);
    case "ExecMainStartTimestamp":
      return ts(u.execMainStartAt);
    case "ExecMainExitTimestamp":
      return ts(u.execMainExitAt);
    case "ExecMainPID":
      return String(u.execMainPid);
    case "ExecMainCode":
      return String(u.execMainCode);
    case "ExecMainStatus":
      return String(u.execMainStatus);
    case "Unit":
      return u.triggers ?? "";
    case "Id":
    case "Names":
      return u.id;
    case "Description":
      return found ? u.id.replace(/\.[a-z]+$/, "") : u.id;
    case "LoadState":
      return u.loadState;
    case "ActiveState":
      return u.activeState;
    case "SubState":
      return u.subState;
    case "FragmentPath":
      return found ? `/etc/systemd/system/${u.id}` : "";
    case "UnitFileState":
      // NixOS: units are links into the store, wanted by their targets.
      return found ? "enabled" : "";
    case "StateChangeTimestamp":
      return ts(u.stateChangeAt);
    case "StateChangeTimestampMonotonic":
      return monotonic(host, u.stateChangeAt);
    case "InactiveExitTimestamp":
      return ts(u.inactiveExitAt);
    case "InactiveExitTimestampMonotonic":
      return monotonic(host, u.inactiveExitAt);
    case "ActiveEnterTimestamp":
      return ts(u.activeEnterAt);
    case "ActiveEnterTimestampMonotonic":
      return monotonic(host, u.activeEnterAt);
    case "ActiveExitTimestamp":
      return ts(u.activeExitAt);
    case "ActiveExitTimestampMonotonic":
      return monotonic(host, u.activeExitAt);
    case "InactiveEnterTimestamp":
      return ts(u.inactiveEnterAt);
    case "InactiveEnterTimestampMonotonic":
      return monotonic(host, u.inactiveEnterAt);
    case "Job":
      return u.job === undefined ? "" : String(u.job);
    case "ConditionResult":
      return u.conditionResult;
    case "ConditionTimestamp":
      return ts(u.conditionAt);
    case "StartLimitIntervalUSec":
      return "10s";
    case "StartLimitBurst":
      return "5";
    default:
      return "";
  }
}

function propsFor(id: string): readonly string[] {
  const typed = id.endsWith(".service") ? SERVICE_PROPS : id.endsWith(".timer") ? TIMER_PROPS : [];
  return [...typed, ...UNIT_PROPS];
}

export interface ShowOptions {
  /** Property names asked for (--property/-p); undefined = all. */
  properties?: Set<string>;
  /** --value: values only, no `KEY=`. */
  valueOnly?: boolean;
  /** --timestamp=STYLE */
  timestamp?: TimestampStyle;
}

/** One unit's block, without the trailing blank line. */
export function showUnit(host: SimHost, u: SimUnit, opts: ShowOptions): string {
  const lines: string[] = [];
  for (const name of propsFor(u.id)) {
    if (opts.properties && !opts.properties.has(name)) continue;
    const value = propertyValue(host, u, name, opts.timestamp ?? "pretty");
    // Without -p, systemctl skips empty values (unless --all); with -p it prints them.
    if (!opts.properties && value === "") continue;
    lines.push(opts.valueOnly ? value : `${name}=${value}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

export function showUnits(fleet: Fleet, host: SimHost, ids: readonly string[], opts: ShowOptions): string {
  return ids
    .map((raw) => {
      const id = unitArg(raw);
      return showUnit(host, fleet.unit(host, id) ?? notFoundUnit(id), opts);
    })
    .join("\n");
}

interface ParsedArgs {
  verb?: string;
  units: string[];
  opts: ShowOptions;
  error?: string;
}

// systemctl options that take a value (the ones a probe or an operator plausibly passes).
const WITH_VALUE = new Set([
  "-p",
  "--property",
  "-t",
  "--type",
  "--state",
  "-H",
  "--host",
  "-M",
  "--machine",
  "-n",
  "--lines",
  "-o",
  "--output",
]);

function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { units: [], opts: {} };
  const props = new Set<string>();
  let sawProps = false;
  const addProps = (v: string) => {
    sawProps = true;
    for (const p of v.split(",")) if (p) props.add(p);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      out.units.push(...argv.slice(i + 1));
      break;
    }
    const ts = a.startsWith("--timestamp=") ? a.slice(12) : a === "--timestamp" ? argv[i + 1] : undefined;
    if (ts !== undefined) {
      if (!TIMESTAMP_STYLES.includes(ts as TimestampStyle))
        return { ...out, error: `Invalid value for '--timestamp': '${ts}'` };
      out.opts.timestamp = ts as TimestampStyle;
    }
    if (a.startsWith("--property=")) addProps(a.slice(11));
    else if (a.startsWith("-p") && a.length > 2) addProps(a.slice(2));
    else if (WITH_VALUE.has(a)) {
      const v = argv[++i];
      if (v === undefined) return { ...out, error: `systemctl: option '${a}' requires an argument` };
      if (a === "-p" || a === "--property") addProps(v);
    } else if (a === "--value") out.opts.valueOnly = true;
    else if (a.startsWith("-"))
      continue; // --no-pager, --all, --quiet, …: no effect on what we print
    else if (out.verb === undefined) out.verb = a;
    else out.units.push(a);
  }
  if (sawProps) out.opts.properties = props;
  return out;
}

const JOB_FAILED = (id: string) =>
  `Job for ${id} failed because the control process exited with error code.\n` +
  `See "systemctl status ${id}" and "journalctl -xeu ${id}" for details.\n`;

export function systemctl(fleet: Fleet, host: SimHost, argv: readonly string[]): CommandResult {
  const parsed = parseArgs(argv);
  if (parsed.error) return { stdout: "", stderr: `${parsed.error}\n`, code: 1 };
  const units = parsed.units.map(unitArg);
  switch (parsed.verb) {
    case "show":
      fleet.noteRead(host);
      return { stdout: showUnits(fleet, host, units, parsed.opts), stderr: "", code: 0 };
    case "restart":
    case "start":
    case "try-restart":
    case "reload-or-restart": {
      if (units.length === 0) return { stdout: "", stderr: "Too few arguments.\n", code: 1 };
      let stderr = "";
      let code = 0;
      let hang = false;
      for (const r of fleet.restart(host.def.name, units)) {
        if (r.outcome === "hung") hang = true;
        if (r.outcome === "not-found") {
          stderr += `Failed to ${parsed.verb === "start" ? "start" : "restart"} ${r.unit}: Unit ${r.unit} not found.\n`;
          if (code === 0) code = 5;
        } else if (r.outcome === "failed") {
          stderr += JOB_FAILED(r.unit);
          if (code === 0) code = 1;
        }
      }
      return hang ? { stdout: "", stderr, code, hang } : { stdout: "", stderr, code };
    }
    case "is-active": {
      fleet.noteRead(host);
      let code = 3;
      let stdout = "";
      for (const id of units) {
        const u = fleet.unit(host, id);
        const state = u && u.loadState !== "not-found" ? u.activeState : "inactive";
        stdout += `${state}\n`;
        if (state === "active") code = 0;
      }
      return { stdout, stderr: "", code: units.length > 0 && code === 0 ? 0 : 3 };
    }
    case undefined:
      return { stdout: "", stderr: "Too few arguments.\n", code: 1 };
    default:
      return { stdout: "", stderr: `Unknown command verb '${parsed.verb}'.\n`, code: 1 };
  }
}

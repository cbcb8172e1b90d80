import parsePrometheusTextFormat, { type PrometheusFamily } from "parse-prometheus-text-format";
import { ProbeError } from "../../errors.js";
import { PROBED_FILESYSTEMS } from "../systemd/command.js";
import type { DiskUsage, HostFacts, UnitState } from "../types.js";
import {
  eachWantedLine,
  type Family,
  type LineFilter,
  readWantedFamilies,
  type WantedFamilies,
} from "./exporter-fast.js";

/**
 * node_exporter's /metrics into HostFacts. The systemd collector exports one
 * `node_systemd_unit_state{name,state,type}` series per unit and state, value 1 for the current
 * one. What it cannot tell (SubState, Result, /run/current-system) is left empty; a unit it does
 * not list is reported as LoadState=not-found, which is what the collector's absence means for a
 * unit its include filter covers.
 */
const STATES = ["active", "activating", "deactivating", "inactive", "failed", "reloading", "maintenance"];

/**
 * One shared copy of each state and unit type. Values read off a page are new strings on every
 * probe, and each host's facts keep theirs until the next probe: at 10,000 hosts that was ~60,000
 * copies of "active" alive at once, all old-generation garbage a probe later.
 */
const CANONICAL = new Map(
  [
    ...STATES,
    ...["service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path"],
    ...["slice", "scope"],
    // node_exporter's `type` label of a service is its Type=.
    ...["simple", "exec", "forking", "oneshot", "dbus", "notify", "notify-reload", "idle"],
  ].map((v) => [v, v]),
);
const canonical = (v: string) => CANONICAL.get(v) ?? v;

const parseError = (message: string) => new ProbeError("PROBE_PARSE", message);

/**
 * A sample's value as a number. The sample is named (`family{label="key"}`) only in the error:
 * built for every sample read, that name was a string of garbage per line.
 */
function num(value: string | undefined, family: string, label?: string, key?: string): number {
  const n = Number(value);
  if (value === undefined || value === "" || Number.isNaN(n)) {
    const what = label === undefined ? family : `${family}{${label}="${key}"}`;
    throw parseError(`node_exporter: ${what} has value ${JSON.stringify(value)}`);
  }
  return n;
}

/** The only families read below; everything else a node_exporter prints is skipped unparsed. */
const WANTED = [
  "node_systemd_unit_state",
  "node_systemd_service_restart_total",
  "node_systemd_unit_start_time_seconds",
  "node_load1",
  "node_load5",
  "node_load15",
  "node_cpu_seconds_total",
  "node_filesystem_size_bytes",
  "node_filesystem_avail_bytes",
  "node_filesystem_free_bytes",
];

/**
 * The lines of the wanted families (their samples and their HELP/TYPE lines), in order. A real
 * node_exporter prints hundreds of families (go_*, process_*, node_network_*…); the maintained
 * parser below stays the one strict judge of the lines we read, but parsing the rest character
 * by character was most of a probe's parse time.
 */
export function wantedLines(text: string): { text: string; inactiveStates: number } {
  let out = "";
  const inactiveStates = eachWantedLine(text, FILTER, (line) => {
    out += `${line}\n`;
    return true;
  });
  return { text: out, inactiveStates: inactiveStates ?? 0 };
}

/**
 * A node_systemd_unit_state sample of value 0 in node_exporter's own canonical form (labels name,
 * state, type in that order, a known state, no timestamp). It can only say "not in this state", so
 * one that matches this strict pattern needs no parsing; five of every six unit-state lines are
 * such. Any other form (an unknown state, odd spacing, a timestamp) goes to the parser as before.
 */
const INACTIVE_STATE_LINE = new RegExp(
  `node_systemd_unit_state\\{name="(?:[^"\\\\\\n]|\\\\.)+",state="(?:${STATES.join("|")})",type="[^"\\\\\\n]*"\\} 0`,
  // Sticky, matched where the line starts and required to end where it ends: the line is never
  // cut out of the page for it.
  "y",
);

const FILTER: LineFilter = {
  wanted: WANTED,
  isInactiveState: (text, start, end) => {
    if (text.charCodeAt(start) !== 110 /* n */) return false;
    INACTIVE_STATE_LINE.lastIndex = start;
    return INACTIVE_STATE_LINE.test(text) && INACTIVE_STATE_LINE.lastIndex === end;
  },
};

/** The canonical-form reader on the wanted families; undefined when the page needs the parser. */
export const readCanonical = (text: string): WantedFamilies | undefined => readWantedFamilies(text, FILTER);

/** Through the maintained parser: every page the canonical-form reader declines. */
function parseWanted(text: string): WantedFamilies {
  let families: PrometheusFamily[];
  const wanted = wantedLines(text);
  try {
    families = parsePrometheusTextFormat(wanted.text);
  } catch (e) {
    throw new ProbeError("PROBE_PARSE", `node_exporter: unreadable metrics: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return { byName: new Map(families.map((f) => [f.name, f])), inactiveStates: wanted.inactiveStates };
}

export function parseNodeExporter(text: string, units: readonly string[]): HostFacts {
  const wanted = readCanonical(text) ?? parseWanted(text);
  const byName = wanted.byName;
  const unitState = byName.get("node_systemd_unit_state");
  if (!unitState && wanted.inactiveStates === 0 && units.length > 0) {
    throw parseError("node_exporter: no node_systemd_unit_state (is the systemd collector enabled?)");
  }

  const current = new Map<string, { state: string; type: string }>();
  for (const s of unitState?.metrics ?? []) {
    const name = s.labels?.["name"];
    const state = s.labels?.["state"];
    if (!name || !state)
      throw parseError("node_exporter: node_systemd_unit_state without name or state label");
    if (!STATES.includes(state))
      throw parseError(`node_exporter: unknown unit state ${JSON.stringify(state)}`);
    if (num(s.value, "node_systemd_unit_state", "name", name) !== 1) continue;
    if (current.has(name)) throw parseError(`node_exporter: unit ${name} is in two states at once`);
    current.set(name, { state: canonical(state), type: canonical(s.labels?.["type"] ?? "") });
  }
  const restarts = labelled(byName.get("node_systemd_service_restart_total"), "name");
  const started = labelled(byName.get("node_systemd_unit_start_time_seconds"), "name");

  const out: Record<string, UnitState> = {};
  for (const unit of units) {
    const c = current.get(unit);
    const startedAt = started.get(unit);
    out[unit] = c
      ? {
          id: unit,
          loadState: "loaded",
          activeState: c.state,
          subState: "",
          result: c.state === "failed" ? "failed" : "",
          nRestarts: restarts.get(unit) ?? 0,
          type: c.type,
          ...(startedAt ? { activeEnterTimestamp: startedAt * 1000 } : {}),
        }
      : {
          id: unit,
          loadState: "not-found",
          activeState: "inactive",
          subState: "dead",
          result: "",
          nRestarts: 0,
          type: "",
        };
  }

  const facts: HostFacts = { units: out, disks: disks(byName) };
  const l1 = single(byName.get("node_load1"));
  const l5 = single(byName.get("node_load5"));
  const l15 = single(byName.get("node_load15"));
  if (l1 !== undefined && l5 !== undefined && l15 !== undefined) facts.load = [l1, l5, l15];
  const cpus = new Set(
    (byName.get("node_cpu_seconds_total")?.metrics ?? [])
      .filter((s) => s.labels?.["mode"] === "idle")
      .map((s) => s.labels?.["cpu"]),
  );
  if (cpus.size > 0) facts.cpus = cpus.size;
  return facts;
}

function labelled(f: Family | undefined, label: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of f?.metrics ?? []) {
    const key = s.labels?.[label];
    if (key) m.set(key, num(s.value, f?.name ?? "", label, key));
  }
  return m;
}

function single(f: Family | undefined): number | undefined {
  const s = f?.metrics[0];
  return s ? num(s.value, f.name) : undefined;
}

function disks(byName: Map<string, Family>): DiskUsage[] {
  const size = labelled(byName.get("node_filesystem_size_bytes"), "mountpoint");
  const avail = labelled(byName.get("node_filesystem_avail_bytes"), "mountpoint");
  const free = labelled(byName.get("node_filesystem_free_bytes"), "mountpoint");
  const out: DiskUsage[] = [];
  for (const mount of PROBED_FILESYSTEMS) {
    const s = size.get(mount);
    const a = avail.get(mount);
    const f = free.get(mount);
    if (s === undefined || a === undefined || f === undefined) continue;
    const used = s - f;
    const usable = used + a;
    out.push({ mount, sizeBytes: s, usedBytes: used, usedFraction: usable > 0 ? used / usable : 0 });
  }
  return out;
}

import { ProbeError } from "../../errors.js";
import type { DiskUsage, HostFacts, UnitState } from "../types.js";
import { DONE_MARKER, SECTION_PREFIX, SECTIONS, type SectionName } from "./command.js";

/**
 * Strict parsers for what the probe command prints (format documented in command.ts). Anything
 * unexpected is a PROBE_PARSE error rather than a guess: a misread unit state would make NixGuard
 * restart a healthy service or ignore a dead one.
 */

const parseError = (message: string) => new ProbeError("PROBE_PARSE", message);

export interface Section {
  body: string;
  status: number;
}

const BEGIN = new RegExp(`^${escapeRegExp(SECTION_PREFIX)}begin ([a-z-]+)::$`);
const END = new RegExp(`^${escapeRegExp(SECTION_PREFIX)}end ([a-z-]+) (\\d{1,3})::$`);

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Splits the probe output into its sections; fails if the output is truncated or out of order. */
export function parseSections(text: string): Map<SectionName, Section> {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.at(-1) !== DONE_MARKER) throw parseError("probe output is truncated (no done marker)");
  lines.pop();
  const sections = new Map<SectionName, Section>();
  let current: { name: SectionName; lines: string[] } | undefined;
  let order = -1;
  for (const line of lines) {
    const begin = BEGIN.exec(line);
    const end = END.exec(line);
    if (!current) {
      if (!begin) throw parseError(`unexpected line outside a section: ${JSON.stringify(line.slice(0, 80))}`);
      const name = begin[1] as SectionName;
      const index = SECTIONS.indexOf(name);
      if (index < 0) throw parseError(`unknown section ${JSON.stringify(name)}`);
      if (index <= order) throw parseError(`section ${name} out of order or repeated`);
      order = index;
      current = { name, lines: [] };
    } else if (end) {
      if (end[1] !== current.name) throw parseError(`section ${current.name} closed as ${end[1]}`);
      sections.set(current.name, { body: current.lines.join("\n"), status: Number(end[2]) });
      current = undefined;
    } else if (begin) {
      throw parseError(`section ${begin[1]} begins inside section ${current.name}`);
    } else {
      current.lines.push(line);
    }
  }
  if (current) throw parseError(`section ${current.name} is not closed`);
  return sections;
}

const INT = /^\d+$/;

/**
 * `systemctl show --property=...` output: one block of KEY=VALUE lines per unit, blocks separated
 * by an empty line, in the order the units were given. systemd prints properties in its own
 * interface order (Type before Id for services) and omits those a unit type lacks (timers have
 * no Type or NRestarts), so only Id, LoadState, ActiveState and SubState are required.
 *
 * With `requested`, blocks are matched to the requested names by position (an alias reports its
 * target's Id) and the result is keyed by requested name; without, by Id.
 */
export function parseSystemctlShow(text: string, requested?: readonly string[]): Record<string, UnitState> {
  const blocks: Map<string, string>[] = [];
  let block: Map<string, string> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") {
      block = undefined;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0)
      throw parseError(`systemctl show: expected KEY=VALUE, got ${JSON.stringify(line.slice(0, 80))}`);
    const key = line.slice(0, eq);
    if (!/^[A-Za-z]+$/.test(key))
      throw parseError(`systemctl show: bad property name ${JSON.stringify(key)}`);
    if (!block) {
      block = new Map();
      blocks.push(block);
    }
    if (block.has(key)) throw parseError(`systemctl show: property ${key} repeated in one unit block`);
    block.set(key, line.slice(eq + 1));
  }
  if (requested && blocks.length !== requested.length) {
    throw parseError(`systemctl show: ${blocks.length} unit blocks for ${requested.length} units`);
  }
  const out: Record<string, UnitState> = {};
  blocks.forEach((b, i) => {
    const unit = toUnitState(b);
    const key = requested ? requested[i]! : unit.id;
    if (Object.hasOwn(out, key)) throw parseError(`systemctl show: unit ${key} reported twice`);
    out[key] = unit;
  });
  return out;
}

function toUnitState(b: Map<string, string>): UnitState {
  const required = (key: string) => {
    const v = b.get(key);
    if (v === undefined || v === "") throw parseError(`systemctl show: unit block without ${key}`);
    return v;
  };
  const id = required("Id");
  const nRestarts = b.get("NRestarts") ?? "0";
  if (!INT.test(nRestarts)) throw parseError(`systemctl show: ${id}: NRestarts=${JSON.stringify(nRestarts)}`);
  const activeEnterTimestamp = parseTimestamp(
    b.get("ActiveEnterTimestamp") ?? "",
    id,
    "ActiveEnterTimestamp",
  );
  const conditionTimestamp = parseTimestamp(b.get("ConditionTimestamp") ?? "", id, "ConditionTimestamp");
  const execMainCode = optionalInt(b, "ExecMainCode", id);
  const execMainStatus = optionalInt(b, "ExecMainStatus", id);
  const conditionResult = b.get("ConditionResult");
  const triggers = b.get("Unit");
  // Only the fields systemd printed: older probes' fixtures and the exporter have none of them.
  const unit: UnitState = {
    id,
    loadState: required("LoadState"),
    activeState: required("ActiveState"),
    subState: required("SubState"),
    result: b.get("Result") ?? "",
    nRestarts: Number(nRestarts),
    type: b.get("Type") ?? "",
  };
  if (activeEnterTimestamp !== undefined) unit.activeEnterTimestamp = activeEnterTimestamp;
  if (execMainCode !== undefined) unit.execMainCode = execMainCode;
  if (execMainStatus !== undefined) unit.execMainStatus = execMainStatus;
  if (conditionResult) unit.conditionResult = conditionResult;
  if (conditionTimestamp !== undefined) unit.conditionTimestamp = conditionTimestamp;
  if (triggers) unit.triggers = triggers;
  return unit;
}

/** ExecMainStatus can be negative in principle (an errno): accept a sign. */
function optionalInt(b: Map<string, string>, key: string, id: string): number | undefined {
  const v = b.get(key);
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d{1,10}$/.test(v)) throw parseError(`systemctl show: ${id}: ${key}=${JSON.stringify(v)}`);
  return Number(v);
}

const HUMAN_TS = /^[A-Z][a-z]{2} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (UTC|GMT|[+-]\d{4})$/;

/** `@1714986721` (--timestamp=unix), `Mon 2024-05-06 09:12:01 UTC`, or empty (never entered). */
export function parseTimestamp(
  value: string,
  unit = "unit",
  property = "ActiveEnterTimestamp",
): number | undefined {
  if (value === "" || value === "n/a") return undefined;
  const unix = /^@(\d+)$/.exec(value);
  if (unix) return Number(unix[1]) * 1000;
  const human = HUMAN_TS.exec(value);
  if (human) {
    const zone =
      human[3] === "UTC" || human[3] === "GMT" ? "Z" : `${human[3]!.slice(0, 3)}:${human[3]!.slice(3)}`;
    const ms = Date.parse(`${human[1]}T${human[2]}${zone}`);
    if (!Number.isNaN(ms)) return ms;
  }
  throw parseError(`systemctl show: ${unit}: unreadable ${property} ${JSON.stringify(value)}`);
}

const DF_LINE = /^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+%|-)\s+(\/.*)$/;

/**
 * `df -P -B1 PATH...` (POSIX format, byte blocks). One line per path asked; several paths on one
 * filesystem give duplicate lines, reported once. usedFraction is df's own Capacity (used over
 * what non-root users can use), which is what "disk full" means to a service.
 */
export function parseDf(text: string): DiskUsage[] {
  const lines = text.split("\n").filter((l) => l !== "");
  const header = lines.shift();
  if (!header || !/^Filesystem\s+1-blocks\s+Used\s+Available\s+Capacity\s+Mounted on$/.test(header)) {
    throw parseError(`df: unexpected header ${JSON.stringify(header?.slice(0, 80) ?? "")}`);
  }
  const seen = new Set<string>();
  const disks: DiskUsage[] = [];
  for (const line of lines) {
    const m = DF_LINE.exec(line);
    if (!m) throw parseError(`df: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    const mount = m[6]!;
    if (seen.has(mount)) continue;
    seen.add(mount);
    const sizeBytes = Number(m[2]);
    const usedBytes = Number(m[3]);
    const available = Number(m[4]);
    const usable = usedBytes + available;
    disks.push({ mount, sizeBytes, usedBytes, usedFraction: usable > 0 ? usedBytes / usable : 0 });
  }
  return disks;
}

/** `/proc/loadavg`: `0.07 0.20 0.14 4/201 12199`. */
export function parseLoadavg(text: string): [number, number, number] {
  const m = /^(\d+\.\d+) (\d+\.\d+) (\d+\.\d+) \d+\/\d+ \d+\s*$/.exec(text);
  if (!m) throw parseError(`loadavg: unexpected ${JSON.stringify(text.slice(0, 80))}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function parseNproc(text: string): number {
  const t = text.trim();
  if (!/^[1-9]\d{0,5}$/.test(t)) throw parseError(`nproc: unexpected ${JSON.stringify(t.slice(0, 40))}`);
  return Number(t);
}

/** The whole probe output (see command.ts) into HostFacts for the requested units. */
export function parseProbeOutput(text: string, units: readonly string[]): HostFacts {
  const sections = parseSections(text);
  const facts: HostFacts = { units: {}, disks: [] };
  if (units.length > 0) {
    const s = sections.get("systemd");
    if (!s) throw parseError("probe output has no systemd section");
    if (s.status !== 0) {
      throw new ProbeError("COMMAND_FAILED", `systemctl show exited with status ${s.status}`);
    }
    facts.units = parseSystemctlShow(s.body, units);
  }
  const current = sections.get("current-system");
  if (current && current.status === 0) {
    const target = current.body.trim();
    if (!/^\/nix\/store\/[0-9a-z]{32}-[^\s/]+$/.test(target)) {
      throw parseError(`/run/current-system points to ${JSON.stringify(target.slice(0, 120))}`);
    }
    facts.currentSystem = target;
  }
  const df = sections.get("df");
  // df exits 1 when one path is missing (a host without a separate /nix) but still reports the rest.
  if (df && df.body.trim() !== "") facts.disks = parseDf(df.body);
  const load = sections.get("loadavg");
  if (load && load.status === 0) facts.load = parseLoadavg(load.body);
  const nproc = sections.get("nproc");
  if (nproc && nproc.status === 0) facts.cpus = parseNproc(nproc.body);
  return facts;
}

import type { HostSpec } from "../../config/desired.js";

/**
 * The service a timer starts, by NixOS's convention: `systemd.timers.<name>` triggers
 * `<name>.service` unless `timerConfig.Unit` says otherwise (the probe reads the timer's `Unit=`
 * and the judge only uses this service when the two agree). Undefined for anything but a timer.
 */
export function timerService(unit: string): string | undefined {
  return unit.endsWith(".timer") ? `${unit.slice(0, -".timer".length)}.service` : undefined;
}

/**
 * Units a probe asks systemd about: the host's checked units, then the service of each checked
 * timer that is not checked itself — a timer is judged by its own state and its service's last run.
 */
export function probedUnits(units: readonly string[]): string[] {
  let out: string[] | undefined;
  const asked = new Set(units);
  for (const u of units) {
    const service = timerService(u);
    if (service === undefined || asked.has(service)) continue;
    out ??= [...units];
    out.push(service);
    asked.add(service);
  }
  return out ?? [...units];
}

// One list per spec: a spec is replaced, never changed, by a reload; its probe runs every interval.
const cache = new WeakMap<HostSpec, readonly string[]>();

export function probedUnitsOf(spec: HostSpec): readonly string[] {
  let units = cache.get(spec);
  if (!units) {
    units = probedUnits(spec.units.map((u) => u.unit));
    cache.set(spec, units);
  }
  return units;
}

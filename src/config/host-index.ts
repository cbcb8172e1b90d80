import type { DesiredState, HostSpec } from "./desired.js";

const byName = new WeakMap<DesiredState, ReadonlyMap<string, readonly HostSpec[]>>();

/**
 * Every desired host of this name (one per deployment that has it), from an index built once per
 * DesiredState: a desired state is frozen and a reload replaces it whole, so the index never goes
 * stale, and a lookup per API request no longer walks the fleet (at 1,000 hosts that walk was a
 * fifth of GET /api/v1/hosts/:name's CPU).
 */
export function hostsNamed(desired: DesiredState, name: string): readonly HostSpec[] {
  let index = byName.get(desired);
  if (!index) {
    const built = new Map<string, HostSpec[]>();
    for (const d of desired.deployments) {
      for (const h of d.hosts) {
        const same = built.get(h.name);
        if (same) same.push(h);
        else built.set(h.name, [h]);
      }
    }
    index = built;
    byName.set(desired, index);
  }
  return index.get(name) ?? [];
}

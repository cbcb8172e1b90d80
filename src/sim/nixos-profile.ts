import { PROFILE_DIR, SYSTEM_PROFILE } from "../probes/systemd/generations.js";

/**
 * A simulated NixOS host's system profile: the links /nix/var/nix/profiles/system-<N>-link
 * (each to a system's store path) and `system` pointing at one of them. Pure; the fleet keeps
 * one per host. Store paths count as on the host while a generation link or
 * /run/current-system keeps them alive (garbage collection removes both together).
 */
export interface SimProfile {
  /** Generation number → system store path. */
  links: Map<number, string>;
  /** The generation `system` points at. */
  current: number;
}

export const newProfile = (system: string): SimProfile => ({ links: new Map([[1, system]]), current: 1 });

/**
 * `nix-env -p /nix/var/nix/profiles/system --set PATH` (Nix's createGeneration): a new
 * generation N+1 unless the newest one already is PATH, then `system` points at it.
 */
export function setProfile(p: SimProfile, system: string): number {
  const newest = Math.max(0, ...p.links.keys());
  if (p.links.get(newest) !== system) p.links.set(newest + 1, system);
  p.current = p.links.get(newest) === system ? newest : newest + 1;
  return p.current;
}

export function onHost(p: SimProfile, currentSystem: string, system: string): boolean {
  return system === currentSystem || [...p.links.values()].includes(system);
}

/** What `readlink` prints for a profile link (undefined: not a link). */
export function readProfileLink(p: SimProfile, path: string): string | undefined {
  if (path === SYSTEM_PROFILE) return `system-${p.current}-link`;
  const m = new RegExp(`^${PROFILE_DIR}/system-(\\d+)-link$`).exec(path);
  return m ? p.links.get(Number(m[1])) : undefined;
}

/**
 * The generation walk of NixGuard's listing (`for l in …/system-*-link; do [ -L "$l" ] && [ -d
 * "$l" ] …`) as dash runs it on the host: links in glob order (by name, so system-10 before
 * system-2), each `gen N TARGET`.
 */
export function generationLines(p: SimProfile): string {
  return [...p.links.entries()]
    .map(([n, path]) => ({ name: `system-${n}-link`, n, path }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((g) => `gen ${g.n} ${g.path}\n`)
    .join("");
}

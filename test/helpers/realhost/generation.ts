import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { systemStorePath } from "../../../src/sim/store-path.js";

/** The scripts every generation carries (they run inside the container). */
export const GUEST_DIR = fileURLToPath(new URL("./guest", import.meta.url));

/**
 * A NixOS system as a real host holds it: `/nix/store/<hash>-nixos-system-<host>-<version>/` with its
 * unit files under etc/systemd/system (and the targets' .wants links), `activate`,
 * `bin/switch-to-configuration`, `bin/apply` and `nixos-version`.
 */
export interface SystemSpec {
  /** Unit file name → contents, e.g. { "web.service": "[Service]\nExecStart=…" }. */
  units: Record<string, string>;
  /**
   * Extra wants, target → units (instances of templates such as "worker@1.service" go here).
   * Units whose [Install] section says WantedBy=T are wanted by T without being listed.
   */
  wants?: Record<string, string[]>;
}

export interface Generation {
  /** 1, 2, …: the order this host's systems were written in (not a profile generation number). */
  index: number;
  /** The store path: what /run/current-system points at once this system is active. */
  toplevel: string;
  version: string;
  units: Record<string, string>;
}

const UNIT_NAME = /^[A-Za-z0-9:_.@-]+\.(service|socket|timer|path|target|mount)$/;

/** Pure: target → units, from [Install] WantedBy= of non-template units plus `extra`. */
export function wantsOf(units: Record<string, string>, extra: Record<string, string[]> = {}) {
  const wants = new Map<string, Set<string>>();
  const add = (target: string, unit: string) => {
    if (!wants.has(target)) wants.set(target, new Set());
    wants.get(target)?.add(unit);
  };
  for (const [name, text] of Object.entries(units)) {
    if (name.includes("@.")) continue;
    for (const m of text.matchAll(/^WantedBy=(.+)$/gm)) {
      for (const t of (m[1] as string).trim().split(/\s+/)) add(t, name);
    }
  }
  for (const [target, list] of Object.entries(extra)) for (const u of list) add(target, u);
  return wants;
}

/** Writes the system into `nixRoot` (the directory bound at the host's /nix). */
export function writeSystem(nixRoot: string, host: string, index: number, spec: SystemSpec): Generation {
  const toplevel = systemStorePath(host, index);
  const marker = `-nixos-system-${host}-`;
  const version = toplevel.slice(toplevel.indexOf(marker) + marker.length);
  const dir = join(nixRoot, toplevel.slice("/nix".length));
  if (existsSync(dir)) throw new Error(`${toplevel} exists already`);
  const units = join(dir, "etc/systemd/system");
  mkdirSync(units, { recursive: true });
  for (const [name, text] of Object.entries(spec.units)) {
    if (!UNIT_NAME.test(name)) throw new Error(`bad unit file name ${JSON.stringify(name)}`);
    writeFileSync(join(units, name), text.endsWith("\n") ? text : `${text}\n`);
  }
  for (const [target, list] of wantsOf(spec.units, spec.wants)) {
    mkdirSync(join(units, `${target}.wants`), { recursive: true });
    for (const unit of list) {
      if (!UNIT_NAME.test(unit)) throw new Error(`bad unit name ${JSON.stringify(unit)}`);
      const template = unit.replace(/@[^.]+\./, "@.");
      symlinkSync(
        `../${spec.units[unit] !== undefined ? unit : template}`,
        join(units, `${target}.wants`, unit),
      );
    }
  }
  mkdirSync(join(dir, "bin"));
  for (const script of ["switch-to-configuration", "apply"]) {
    copyFileSync(join(GUEST_DIR, script), join(dir, "bin", script));
  }
  copyFileSync(join(GUEST_DIR, "activate"), join(dir, "activate"));
  writeFileSync(join(dir, "nixos-version"), `${version}\n`);
  return { index, toplevel, version, units: { ...spec.units } };
}

/** What `nix-env -p /nix/var/nix/profiles/system --set TOPLEVEL` leaves: a new system-N-link, `system` → it. */
export function setProfile(nixRoot: string, toplevel: string): number {
  const profiles = join(nixRoot, "var/nix/profiles");
  mkdirSync(profiles, { recursive: true });
  const numbers = readdirSync(profiles)
    .map((f) => /^system-(\d+)-link$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const n = Math.max(0, ...numbers) + 1;
  symlinkSync(toplevel, join(profiles, `system-${n}-link`));
  const tmp = join(profiles, ".system.tmp");
  symlinkSync(`system-${n}-link`, tmp);
  // rename(2) replaces the old link atomically, as `mv -T` does in bin/apply.
  renameSync(tmp, join(profiles, "system"));
  return n;
}

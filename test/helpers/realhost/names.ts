/**
 * The naming scheme of everything the real-host bed creates on this machine. Each host takes one
 * slot (0…319), held while its network namespace exists; the namespace, the nspawn machine and the
 * host's directory also carry the owning process's pid, so a sweep can tell leftovers of a dead
 * process from a live neighbour's (vitest runs two workers at once).
 *
 * Addresses: slot s is the /30 at 10.213.(250 + s/64).(4·(s%64)); the root end is .1, the
 * container .2. test/helpers/fault-netns.ts uses 10.213.0–249.x, so the two never meet.
 */
export const SLOTS = 320;
const PREFIX = "ngrh";

export const machineName = (pid: number, slot: number) => `${PREFIX}-${pid}-${slot}`;
export const hostDirFor = (pid: number, slot: number) => `/tmp/${machineName(pid, slot)}`;
/** veth ends; interface names are at most 15 bytes. */
export const rootLink = (slot: number) => `${PREFIX}${slot}r`;
export const containerLink = (slot: number) => `${PREFIX}${slot}c`;

/** pid and slot of a namespace, machine or directory name of this scheme. */
export function parseMachineName(name: string): { pid: number; slot: number } | undefined {
  const m = /^ngrh-(\d+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  const slot = Number(m[2]);
  return slot < SLOTS ? { pid: Number(m[1]), slot } : undefined;
}

export function parseRootLink(name: string): number | undefined {
  const m = /^ngrh(\d+)r$/.exec(name);
  return m && Number(m[1]) < SLOTS ? Number(m[1]) : undefined;
}

export function slotAddresses(slot: number): { root: string; container: string } {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new Error(`slot ${slot} out of range`);
  const third = 250 + Math.floor(slot / 64);
  const base = (slot % 64) * 4;
  return { root: `10.213.${third}.${base + 1}`, container: `10.213.${third}.${base + 2}` };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

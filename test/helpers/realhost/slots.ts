import { readdirSync, rmSync } from "node:fs";
import { withFlock } from "./flock.js";
import {
  hostDirFor,
  machineName,
  parseMachineName,
  parseRootLink,
  pidAlive,
  rootLink,
  SLOTS,
} from "./names.js";
import { createNetwork, destroyNetwork, type HostNetwork, ip, linkNames, netnsNames } from "./network.js";
import { killTree, nspawnProcesses } from "./processes.js";

const LOCK = "/run/nixguard-realhost/slots.lock";

/**
 * Removes what a dead process of this bed left behind: its containers (by the pid in the machine
 * name), network namespaces, veth links and host directories. Live processes' hosts are left alone.
 * Returns what it removed.
 */
export function sweepStale(): string[] {
  const removed: string[] = [];
  const stale = (name: string) => {
    const m = parseMachineName(name);
    return m !== undefined && !pidAlive(m.pid);
  };
  for (const p of nspawnProcesses()) {
    if (!stale(p.machine)) continue;
    killTree(p.pid);
    removed.push(`container ${p.machine} (pid ${p.pid})`);
  }
  const liveSlots = new Set<number>();
  for (const ns of netnsNames()) {
    const m = parseMachineName(ns);
    if (!m) continue;
    if (pidAlive(m.pid)) {
      liveSlots.add(m.slot);
      continue;
    }
    destroyNetwork(ns, rootLink(m.slot));
    removed.push(`netns ${ns}`);
  }
  for (const link of linkNames()) {
    const slot = parseRootLink(link);
    if (slot === undefined || liveSlots.has(slot)) continue;
    try {
      ip("link", "del", link);
      removed.push(`link ${link}`);
    } catch {
      // Gone with its namespace.
    }
  }
  for (const entry of readdirSync("/tmp")) {
    if (!stale(entry)) continue;
    rmSync(`/tmp/${entry}`, { recursive: true, force: true });
    removed.push(`dir /tmp/${entry}`);
  }
  return removed;
}

/** sweepStale under the slot lock (what every boot does first). */
export const sweep = () => withFlock(LOCK, async () => sweepStale());

export interface Slot {
  slot: number;
  machine: string;
  dir: string;
  network: HostNetwork;
}

/**
 * Takes a free slot and creates its network, under a lock shared by every process using the bed
 * (so two workers never take the same addresses), after sweeping dead processes' leftovers.
 */
export function allocateSlot(): Promise<Slot> {
  return withFlock(LOCK, async () => {
    sweepStale();
    const used = new Set<number>();
    for (const ns of netnsNames()) {
      const m = parseMachineName(ns);
      if (m) used.add(m.slot);
    }
    for (const link of linkNames()) {
      const slot = parseRootLink(link);
      if (slot !== undefined) used.add(slot);
    }
    for (let i = 0; i < SLOTS; i++) {
      const slot = (process.pid + i) % SLOTS;
      if (used.has(slot)) continue;
      const machine = machineName(process.pid, slot);
      const network = createNetwork(machine, slot);
      return { slot, machine, dir: hostDirFor(process.pid, slot), network };
    }
    throw new Error(`all ${SLOTS} real-host slots are in use`);
  });
}

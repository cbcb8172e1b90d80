import { availableParallelism, loadavg } from "node:os";
import si from "systeminformation";
import type { Metrics } from "../metrics.js";

/**
 * Resources of the NixGuard host itself: a full /nix/store or state directory is a classic cause
 * of failed deploys, so it shows in status and metrics before nixops4 trips over it.
 */
export interface SelfFilesystem {
  /** The path asked about (state dir, /nix/store). */
  path: string;
  mount: string;
  sizeBytes: number;
  usedBytes: number;
  usedFraction: number;
}

export interface SelfResources {
  at: number;
  load: [number, number, number];
  cpus: number;
  memory: { totalBytes: number; availableBytes: number; usedFraction: number };
  filesystems: SelfFilesystem[];
}

export interface SelfPaths {
  stateDir: string;
  nixStore: string;
}

/** The filesystem holding `path`: the longest mount point that prefixes it. */
export function filesystemOf<T extends { mount: string }>(
  path: string,
  filesystems: readonly T[],
): T | undefined {
  let best: T | undefined;
  for (const fs of filesystems) {
    const m = fs.mount;
    const covers = m === "/" || path === m || path.startsWith(m.endsWith("/") ? m : `${m}/`);
    if (covers && (!best || m.length > best.mount.length)) best = fs;
  }
  return best;
}

export async function probeSelf(paths: SelfPaths, now = Date.now): Promise<SelfResources> {
  const [mem, fsList] = await Promise.all([si.mem(), si.fsSize()]);
  const filesystems: SelfFilesystem[] = [];
  for (const path of [paths.stateDir, paths.nixStore]) {
    const fs = filesystemOf(path, fsList);
    if (!fs) continue;
    const usable = fs.used + fs.available;
    filesystems.push({
      path,
      mount: fs.mount,
      sizeBytes: fs.size,
      usedBytes: fs.used,
      usedFraction: usable > 0 ? fs.used / usable : 0,
    });
  }
  // os.loadavg is what systeminformation reads too, without its CPU sampling delay.
  const [l1 = 0, l5 = 0, l15 = 0] = loadavg();
  return {
    at: now(),
    load: [l1, l5, l15],
    cpus: availableParallelism(),
    memory: {
      totalBytes: mem.total,
      availableBytes: mem.available,
      usedFraction: mem.total > 0 ? 1 - mem.available / mem.total : 0,
    },
    filesystems,
  };
}

/** nixguard_self_resource_used_ratio{resource="memory"|"state"|"nix-store"} and nixguard_self_load1. */
export function publishSelf(metrics: Metrics, res: SelfResources, paths: SelfPaths): void {
  metrics.nodeLoad1.set(res.load[0]);
  metrics.nodeResourceUsedRatio.set({ resource: "memory" }, res.memory.usedFraction);
  for (const fs of res.filesystems) {
    const resource = fs.path === paths.nixStore ? "nix-store" : "state";
    metrics.nodeResourceUsedRatio.set({ resource }, fs.usedFraction);
  }
}

import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU ticks (USER_HZ) of a process tree from /proc, split the way the ssh benchmarks report it.
 * A live process's own utime+stime is its cost so far; a process that has exited and been reaped
 * moved its whole cost into its parent's cutime+cstime, so "reaped" is where short-lived children
 * (per-request shells, the remote commands) show up.
 */
export interface ProcTicks {
  pid: number;
  ppid: number;
  comm: string;
  self: number;
  reaped: number;
}

export function readTicks(pid: number | "self"): ProcTicks | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      pid: pid === "self" ? process.pid : pid,
      ppid: Number(f[1]),
      comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
      // utime stime cutime cstime: fields 14-17 of proc(5), 11-14 after the command name.
      self: Number(f[11]) + Number(f[12]),
      reaped: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined; // exited while we looked
  }
}

/** `root` and every live descendant. */
export function tree(root: number): ProcTicks[] {
  const all: ProcTicks[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const t = readTicks(Number(name));
    if (t) all.push(t);
  }
  const children = new Map<number, ProcTicks[]>();
  for (const t of all) children.set(t.ppid, [...(children.get(t.ppid) ?? []), t]);
  const out: ProcTicks[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  const self = all.find((t) => t.pid === root);
  if (self) out.push(self);
  walk(root);
  return out;
}

/**
 * The sshd side of a probe, in ticks, keyed by PID so two snapshots can be subtracted:
 * sshd's processes (the listener and each connection's, one per connection with OpenSSH 9.2), the
 * long-lived remote shells (a persistent session's `sh`), and what they reaped (per-request
 * shells and the remote commands).
 */
export interface RemoteSnapshot {
  sshd: Map<number, number>;
  shells: Map<number, number>;
  reaped: Map<number, number>;
  /** sshd processes, remote shells. */
  counts: { sshd: number; shells: number };
}

export function remoteSnapshot(sshdPid: number): RemoteSnapshot {
  const snap: RemoteSnapshot = {
    sshd: new Map(),
    shells: new Map(),
    reaped: new Map(),
    counts: { sshd: 0, shells: 0 },
  };
  for (const t of tree(sshdPid)) {
    const isSshd = t.comm === "sshd" || t.comm.startsWith("sshd-");
    (isSshd ? snap.sshd : snap.shells).set(t.pid, t.self);
    snap.reaped.set(t.pid, t.reaped);
    if (isSshd) snap.counts.sshd++;
    else snap.counts.shells++;
  }
  return snap;
}

/** Ticks spent between two snapshots; processes that appeared since count from zero. */
export function remoteDelta(before: RemoteSnapshot, after: RemoteSnapshot) {
  const diff = (a: Map<number, number>, b: Map<number, number>) =>
    [...b].reduce((s, [pid, v]) => s + v - (a.get(pid) ?? 0), 0);
  return {
    sshd: diff(before.sshd, after.sshd),
    shells: diff(before.shells, after.shells),
    reaped: diff(before.reaped, after.reaped),
  };
}

/** Proportional and resident set size (KiB) from smaps_rollup: shared pages split among sharers. */
export function memoryKiB(pid: number): { pss: number; rss: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { pss: field("Pss"), rss: field("Rss") };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

/** /proc/meminfo's MemAvailable, bytes. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

import type { HostHealth } from "./types.js";

/**
 * Generation memory of one host: every system (store path) seen running on it, who switched to
 * it, and what NixGuard learnt of it. Pure: the housekeeping pass feeds observations in and
 * stores what comes out (state-store.ts); the ladder reads it to pick a rollback target.
 */
export type SwitchedBy = "nixguard" | "other";
/** unknown: not yet proven; good: stayed healthy for knownGoodAfter; bad: failed, the ladder could not heal it. */
export type Verdict = "unknown" | "good" | "bad";

export interface GenerationEntry {
  path: string;
  /** First time NixGuard saw it running. */
  firstSeen: number;
  /** Last time the host switched to it (as first seen running). */
  since: number;
  by: SwitchedBy;
  /** Which apply brought it: hosts switched by one apply share it (see causeFor). */
  cause?: string;
  verdict: Verdict;
  verdictAt?: number;
  /** bad: what failed on it. */
  reason?: string;
  /**
   * Since when the host has been up on it with no failure seen at all (not even one that
   * hysteresis or an action's settle period keeps from counting); absent while it is not.
   */
  upSince?: number;
}

export interface HostGenerations {
  /** The system running when last read. */
  current?: string;
  /** Newest switch first. */
  entries: GenerationEntry[];
}

export const emptyGenerations = (): HostGenerations => ({ entries: [] });

export interface SwitchSeen {
  path: string;
  at: number;
  by: SwitchedBy;
  cause: string;
}

/** The host runs `seen.path`: unchanged when it already did, else a switch (kept to `keep` entries). */
export function noteSystem(mem: HostGenerations, seen: SwitchSeen, keep: number): HostGenerations {
  if (mem.current === seen.path) return mem;
  const old = mem.entries.find((e) => e.path === seen.path);
  const { upSince: _reset, ...kept } = old ?? { upSince: undefined };
  const entry: GenerationEntry = old
    ? { ...(kept as GenerationEntry), since: seen.at, by: seen.by, cause: seen.cause }
    : {
        path: seen.path,
        firstSeen: seen.at,
        since: seen.at,
        by: seen.by,
        cause: seen.cause,
        verdict: "unknown",
      };
  const rest = mem.entries.filter((e) => e.path !== seen.path);
  return { current: seen.path, entries: bounded([entry, ...rest], keep) };
}

/**
 * Bounded, newest first; but the newest known-good generations are what a rollback needs, so
 * the oldest entries that are not known-good go first.
 */
function bounded(entries: GenerationEntry[], keep: number): GenerationEntry[] {
  const out = [...entries];
  while (out.length > keep) {
    let drop = -1;
    for (let i = out.length - 1; i > 0; i--) {
      if (out[i]?.verdict !== "good") {
        drop = i;
        break;
      }
    }
    out.splice(drop > 0 ? drop : out.length - 1, 1);
  }
  return out;
}

/** The entry of the running system. */
export function currentEntry(mem: HostGenerations): GenerationEntry | undefined {
  return mem.current === undefined ? undefined : mem.entries.find((e) => e.path === mem.current);
}

const isUp = (s: HostHealth["state"]) => s === "healthy" || s === "degraded";

/**
 * Up with nothing failing at all: a failure seen while an action settles leaves the host's state
 * healthy (suppressed), and one below failureThreshold leaves its check healthy; neither is health
 * a generation can be trusted on. A broken deploy is an action in flight, then settling.
 */
export function cleanlyUp(h: Pick<HostHealth, "state" | "suppressed" | "checks">): boolean {
  if (!isUp(h.state) || h.suppressed) return false;
  for (const id in h.checks) if ((h.checks[id]?.consecutiveFailures ?? 0) > 0) return false;
  return true;
}

/**
 * The running generation becomes known-good once the host has been cleanly up on it for
 * `knownGoodAfter` without a break (`upSince`, reset by any failure). Only an unproven one: a
 * generation judged bad stays bad (an operator who wants it again deploys it by hand).
 */
export function judgeCurrent(
  mem: HostGenerations,
  health: Pick<HostHealth, "state" | "suppressed" | "checks" | "currentSystem" | "lastObservedAt">,
  now: number,
  knownGoodAfter: number,
): HostGenerations {
  const cur = currentEntry(mem);
  if (cur?.verdict !== "unknown" || health.currentSystem !== cur.path) return mem;
  if (!cleanlyUp(health)) return cur.upSince === undefined ? mem : withUpSince(mem, cur.path, undefined);
  if (cur.upSince === undefined) return withUpSince(mem, cur.path, health.lastObservedAt ?? now);
  if (now - cur.upSince < knownGoodAfter) return mem;
  return withVerdict(mem, cur.path, "good", now);
}

function withUpSince(mem: HostGenerations, path: string, upSince: number | undefined): HostGenerations {
  return {
    ...mem,
    entries: mem.entries.map((e) => {
      if (e.path !== path) return e;
      const { upSince: _old, ...rest } = e;
      return upSince === undefined ? rest : { ...rest, upSince };
    }),
  };
}

export function withVerdict(
  mem: HostGenerations,
  path: string,
  verdict: Verdict,
  at: number,
  reason?: string,
): HostGenerations {
  return {
    ...mem,
    entries: mem.entries.map((e) => {
      if (e.path !== path) return e;
      const { reason: _old, ...rest } = e;
      return { ...rest, verdict, verdictAt: at, ...(reason !== undefined ? { reason } : {}) };
    }),
  };
}

/** Known-good generations other than the running one, newest switch first: rollback targets. */
export function knownGood(mem: HostGenerations): string[] {
  return mem.entries.filter((e) => e.verdict === "good" && e.path !== mem.current).map((e) => e.path);
}

/**
 * One apply switches several hosts, but each switch is seen by that host's own probe. A switch
 * seen within `windowMs` of another host's (same deployment, same switcher) shares its cause, so
 * an apply that breaks several hosts is one cause, named once.
 */
export function causeFor(
  deployment: string,
  seen: { at: number; by: SwitchedBy },
  others: readonly HostGenerations[],
  windowMs: number,
): string {
  for (const mem of others) {
    const cur = currentEntry(mem);
    if (cur?.cause && cur.by === seen.by && Math.abs(cur.since - seen.at) <= windowMs) return cur.cause;
  }
  const who = seen.by === "nixguard" ? "NixGuard's apply" : "a deploy by someone else";
  return `${who} of ${deployment} first seen ${new Date(seen.at).toISOString()}`;
}

/** Last segment of a store path without the hash: `nixos-system-mastodon-25.05.20250601.abc1234`. */
export function generationName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.length > 33 ? base.slice(33) : base;
}

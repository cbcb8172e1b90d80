import { ownerOf } from "./rendezvous.js";

/**
 * Which hosts this process probes, from the membership it last saw. Pure: keys, members and
 * `now` in, a set of host keys out.
 */

/** A member as the membership sorted set holds it: its id and last heartbeat (Redis' clock, ms). */
export interface MemberBeat {
  id: string;
  heartbeatAt: number;
}

/** Members whose last heartbeat is within `deadAfterMs` of `now` (Redis' clock), sorted by id. */
export function liveMembers(members: readonly MemberBeat[], now: number, deadAfterMs: number): string[] {
  return members
    .filter((m) => now - m.heartbeatAt <= deadAfterMs)
    .map((m) => m.id)
    .sort();
}

/**
 * What a probing process probes:
 * - `all`: the leader with no live peer (one process alone, or the last one standing) — exactly
 *   what a lone NixGuard has always done, observations straight into its own health book;
 * - `share`: its rendezvous share among the live members, whether it leads or not;
 * - `none`: a process that does not lead and has no peer (nobody would read what it publishes),
 *   or that cannot tell who is alive (its own heartbeat has not reached Redis within `deadAfter`:
 *   the others already count it dead and probe its hosts).
 */
export type ProbeScope = "all" | "share" | "none";

export function probeScope(opts: { leading: boolean; viewFresh: boolean; peers: number }): ProbeScope {
  if (!opts.viewFresh || opts.peers === 0) return opts.leading ? "all" : "none";
  return "share";
}

/**
 * Keeps this member's share of the hosts across membership changes. A host it stops owning is
 * still probed for `graceMs` (runtime/probing.ts: an interval and a heartbeat): the new owner may
 * not have seen the change yet (each member reads the membership on its own heartbeat) or not
 * reached the host's turn, and two members probing a host for a moment is harmless where nobody
 * probing it is not. A host it gains is probed at once (the scheduler adds it).
 */
export class ShareTracker {
  private owned = new Set<string>();
  /** Hosts no longer this member's, still probed: since when (local clock). */
  private readonly releasing = new Map<string, number>();

  constructor(
    private readonly self: string,
    private readonly graceMs: number,
  ) {}

  /** The hosts to probe now. `live` includes this member; empty: none (and nothing kept). */
  update(keys: readonly string[], live: readonly string[], now: number): Set<string> {
    if (live.length === 0) {
      this.owned = new Set();
      this.releasing.clear();
      return new Set();
    }
    const next = new Set<string>();
    const desired = new Set<string>();
    for (const key of keys) {
      desired.add(key);
      if (live.length === 1 ? live[0] === this.self : ownerOf(key, live) === this.self) {
        next.add(key);
        this.releasing.delete(key);
      }
    }
    for (const key of this.owned) {
      if (next.has(key) || !desired.has(key)) continue;
      const since = this.releasing.get(key) ?? now;
      if (now - since < this.graceMs) {
        this.releasing.set(key, since);
        next.add(key);
      } else this.releasing.delete(key);
    }
    for (const key of this.releasing.keys()) if (!desired.has(key)) this.releasing.delete(key);
    this.owned = next;
    return new Set(next);
  }

  /** Hosts kept only for the grace: the next update may drop them even if nothing else changes. */
  get releasingCount(): number {
    return this.releasing.size;
  }
}

import type { HostDetail } from "../api/control-plane-port.js";
import type { HostSpec } from "../config/desired.js";
import type { HostHealth } from "../controller/types.js";
import type { HostObservation } from "../probes/types.js";

export interface HostFlags {
  paused: boolean;
  quarantined: boolean;
  drift: boolean;
}

/**
 * One host's detail answer, built once per change: the same frozen object comes back while the
 * host's spec, health, last observation and flags are the very ones it was built from, so the
 * API can keep that object's serialized body (api/serialized.ts). The health book replaces a
 * host's health and observation objects on every probe and a reload replaces the specs, so
 * identity is an exact test; the flags are compared by value because they are worked out anew
 * per request (a pause can expire without any write).
 *
 * Bounded: an answer kept holds its body (~4.4 KB) and the observation it was built from, so a
 * dashboard walking 10,000 hosts would keep ~50 MB. The `limit` hosts asked for most recently are
 * kept (least recently asked goes first); beyond that, answers are built per request as before.
 */
export class HostDetailMemo {
  private readonly entries = new Map<HostSpec, HostDetail>();

  constructor(private readonly limit = 1024) {}

  /** Hosts whose answer is kept (for tests and the bound). */
  get size(): number {
    return this.entries.size;
  }

  get(spec: HostSpec, health: HostHealth, obs: HostObservation | undefined, flags: HostFlags): HostDetail {
    const e = this.entries.get(spec);
    // Most recently asked last: Map keeps insertion order, so the first key is the one to evict.
    if (e) this.entries.delete(spec);
    if (
      e &&
      e.health === health &&
      e.lastObservation === obs &&
      e.paused === flags.paused &&
      e.quarantined === flags.quarantined &&
      e.drift === flags.drift
    ) {
      this.entries.set(spec, e);
      return e;
    }
    const detail: HostDetail = Object.freeze({
      health,
      address: spec.address,
      target: spec.target,
      services: Object.freeze([...spec.services]) as string[],
      paused: flags.paused,
      quarantined: flags.quarantined,
      drift: flags.drift,
      ...(obs ? { lastObservation: obs } : {}),
    });
    this.entries.set(spec, detail);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      if (oldest) this.entries.delete(oldest);
    }
    return detail;
  }
}

import type { HostDetail } from "../api/control-plane.js";
import type { HostSpec } from "../config/desired.js";
import type { HostHealth } from "../controller/types.js";
import type { HostObservation } from "../probes/types.js";

export interface HostFlags {
  paused: boolean;
  quarantined: boolean;
  drift: boolean;
}

interface Entry extends HostFlags {
  health: HostHealth;
  obs: HostObservation | undefined;
  detail: HostDetail;
}

/**
 * One host's detail answer, built once per change: the same frozen object comes back while the
 * host's spec, health, last observation and flags are the very ones it was built from, so the
 * API can keep that object's serialized body (api/serialized.ts). The health book replaces a
 * host's health and observation objects on every probe and a reload replaces the specs, so
 * identity is an exact test; the flags are compared by value because they are worked out anew
 * per request (a pause can expire without any write).
 */
export class HostDetailMemo {
  private readonly entries = new WeakMap<HostSpec, Entry>();

  get(spec: HostSpec, health: HostHealth, obs: HostObservation | undefined, flags: HostFlags): HostDetail {
    const e = this.entries.get(spec);
    if (
      e &&
      e.health === health &&
      e.obs === obs &&
      e.paused === flags.paused &&
      e.quarantined === flags.quarantined &&
      e.drift === flags.drift
    ) {
      return e.detail;
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
    this.entries.set(spec, { health, obs, ...flags, detail });
    return detail;
  }
}

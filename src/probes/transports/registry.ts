import { type HostSpec, hostKey } from "../../config/desired.js";
import type { Transport } from "../types.js";

/** A borrowed transport: use it, then release it once. Never close it: the registry owns it. */
export interface TransportLease {
  readonly transport: Transport;
  release(): void;
}

export type TransportBorrow = (host: HostSpec) => TransportLease;

interface Held {
  /** The transport settings it was made from: a reload that changes them needs a new one. */
  settings: string;
  transport: Transport;
  leases: number;
  /** Replaced or removed by a reload, or the registry is closing: closed once the last lease is released. */
  retired: boolean;
  shut: boolean;
}

/**
 * The one owner of transports. A host's transport is shared by everything that reaches the host
 * (the probe scheduler, a restart, a one-off probe) and closed by nobody but this registry:
 * `close()` ends an ssh ControlMaster (killing every command running over it) and an exporter's
 * HTTP agent for good, so a restart that closed "its" transport blinded the scheduler, and the
 * scheduler stopping cut a restart running over the same master. Users borrow and release; a
 * transport whose host a reload removed or changed is closed when its last lease is released.
 */
export class TransportRegistry {
  private readonly current = new Map<string, Held>();
  private readonly closing = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly create: (host: HostSpec) => Transport) {}

  borrow(host: HostSpec): TransportLease {
    const key = hostKey(host.deployment, host.name);
    const settings = JSON.stringify(host.transport);
    let held = this.current.get(key);
    if (held && held.settings !== settings) {
      this.retire(key, held);
      held = undefined;
    }
    if (!held) {
      held = { settings, transport: this.create(host), leases: 0, retired: this.closed, shut: false };
      if (!this.closed) this.current.set(key, held);
    }
    const h = held;
    h.leases++;
    let released = false;
    return {
      transport: h.transport,
      release: () => {
        if (released) return;
        released = true;
        h.leases--;
        if (h.retired && h.leases === 0) this.closeNow(h);
      },
    };
  }

  /** After a config reload: transports of removed hosts, or whose settings changed, are retired. */
  retain(hosts: readonly HostSpec[]): void {
    const next = new Map(hosts.map((h) => [hostKey(h.deployment, h.name), JSON.stringify(h.transport)]));
    for (const [key, held] of this.current) {
      if (next.get(key) !== held.settings) this.retire(key, held);
    }
  }

  /** Leases held, for tests and status. */
  leases(host: HostSpec): number {
    return this.current.get(hostKey(host.deployment, host.name))?.leases ?? 0;
  }

  /**
   * Shutdown: every transport is closed once its leases are released (those still held are the
   * caller's bug or a job that outlived its grace: they are closed now, so nothing lingers).
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const [key, held] of this.current) this.retire(key, held);
    await Promise.allSettled([...this.closing]);
  }

  private retire(key: string, held: Held): void {
    if (this.current.get(key) === held) this.current.delete(key);
    held.retired = true;
    if (held.leases === 0 || this.closed) this.closeNow(held);
  }

  private closeNow(held: Held): void {
    if (held.shut) return;
    held.shut = true;
    const p = held.transport
      .close()
      .catch(() => undefined)
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }
}

import { actionKeyHost } from "../action.js";
import type { DesiredState } from "../config/desired.js";
import type { StateStore } from "../controller/state-store.js";

/** One deployment's answer: until when the whole deployment, and each host, is suppressed. */
interface Entry {
  /** A deployment-wide action (an apply of the whole deployment) in flight (Infinity) or settling. */
  allUntil: number;
  /** Host → until when an action on that host is in flight (Infinity) or settles. */
  hosts: Map<string, number>;
  fetchedAt: number;
}

/**
 * "Is an action touching this host in flight or settling?" for the health evaluation, which is
 * synchronous and runs per probe. Failures seen meanwhile are recorded, not counted: the action
 * itself may cause them. Only the hosts the action touches: a restart of one host must not
 * freeze the failure counts of the others — else the first restart of a mass failure hides the
 * rest of it from the circuit breaker for as long as it runs and settles.
 * Answers from a per-deployment cache refreshed in the background at most every `refreshMs`
 * (and at once after an outcome), so 10,000 probes a cycle cost a few Redis reads, not 10,000.
 */
export class SuppressionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    private readonly opts: {
      store: Pick<StateStore, "suppression">;
      getDesired: () => DesiredState;
      refreshMs?: number;
      now?: () => number;
    },
  ) {
    this.refreshMs = opts.refreshMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  isSuppressed(deployment: string, host: string): boolean {
    const now = this.now();
    const entry = this.entries.get(deployment);
    if (!entry || now - entry.fetchedAt > this.refreshMs) void this.refresh(deployment);
    if (!entry) return false;
    return entry.allUntil > now || (entry.hosts.get(host) ?? 0) > now;
  }

  /** Drops the deployment's answer and reads it again; resolves when the new one is in. */
  invalidate(deployment: string): Promise<void> {
    this.entries.delete(deployment);
    return this.refresh(deployment);
  }

  private refresh(deployment: string): Promise<void> {
    const running = this.pending.get(deployment);
    if (running) return running;
    if (!this.opts.getDesired().deployments.some((d) => d.name === deployment)) return Promise.resolve();
    const read = this.opts.store
      .suppression(deployment)
      .then(({ inFlight, settling }) => {
        this.entries.set(deployment, toEntry(inFlight, settling, this.now()));
      })
      // Redis unreachable: the previous answer (or none) stands until a read succeeds.
      .catch(() => undefined)
      .finally(() => this.pending.delete(deployment));
    this.pending.set(deployment, read);
    return read;
  }
}

function toEntry(inFlight: readonly string[], settling: ReadonlyMap<string, number>, now: number): Entry {
  const entry: Entry = { allUntil: 0, hosts: new Map(), fetchedAt: now };
  const mark = (key: string, until: number) => {
    const host = actionKeyHost(key);
    if (host === undefined) entry.allUntil = Math.max(entry.allUntil, until);
    else entry.hosts.set(host, Math.max(entry.hosts.get(host) ?? 0, until));
  };
  for (const [key, until] of settling) mark(key, until);
  for (const key of inFlight) mark(key, Number.POSITIVE_INFINITY);
  return entry;
}

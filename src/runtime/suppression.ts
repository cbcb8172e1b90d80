import type { DesiredState } from "../config/desired.js";
import type { StateStore } from "../controller/state-store.js";

/**
 * "Is an action on this deployment in flight or settling?" for the health evaluation, which is
 * synchronous and runs per probe. Answers from a per-deployment cache refreshed in the background
 * at most every `refreshMs` (and at once after an outcome), so 10,000 probes a cycle cost a few
 * Redis reads, not 10,000.
 */
export class SuppressionCache {
  private readonly until = new Map<string, { inFlight: boolean; settleUntil: number; fetchedAt: number }>();
  private readonly pending = new Set<string>();
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    private readonly opts: {
      store: StateStore;
      getDesired: () => DesiredState;
      refreshMs?: number;
      now?: () => number;
    },
  ) {
    this.refreshMs = opts.refreshMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  isSuppressed(deployment: string): boolean {
    const now = this.now();
    const entry = this.until.get(deployment);
    if (!entry || now - entry.fetchedAt > this.refreshMs) this.refresh(deployment);
    if (!entry) return false;
    return entry.inFlight || entry.settleUntil > now;
  }

  invalidate(deployment: string): void {
    this.until.delete(deployment);
    this.refresh(deployment);
  }

  private refresh(deployment: string): void {
    if (this.pending.has(deployment)) return;
    const spec = this.opts.getDesired().deployments.find((d) => d.name === deployment);
    if (!spec) return;
    this.pending.add(deployment);
    this.opts.store
      .suppression(deployment)
      .then((s) => this.until.set(deployment, { ...s, fetchedAt: this.now() }))
      .catch(() => undefined)
      .finally(() => this.pending.delete(deployment));
  }
}

import { type Action, type ActionOutcome, actionKey } from "../action.js";
import { NixGuardError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import type { Decider } from "./decide.js";
import { currentEntry, generationName } from "./generations.js";
import { describeHold, type HoldEntry } from "./hold.js";
import type { StateStore } from "./state-store.js";
import type { NixGuardEvent } from "./types.js";

export interface HoldKeeperDeps {
  store: StateStore;
  metrics: Metrics;
  decider: Decider;
  emit: (e: Omit<NixGuardEvent, "time">) => Promise<void>;
  now: () => number;
}

/**
 * What follows a rollback: a host switched back is held there (an alert says which generation
 * broke what and where the host is now; the apply that caused it is named once per deployment);
 * a host with no known-good generation left to switch to is quarantined. Operators release holds.
 */
export class HoldKeeper {
  constructor(private readonly deps: HoldKeeperDeps) {}

  async onOutcome(o: ActionOutcome): Promise<void> {
    if (o.action.kind !== "rollback") return;
    const a = o.action;
    if (o.outcome === "success" && o.switchedTo !== undefined)
      return this.hold(a, o.switchedTo, o.actor, o.finishedAt);
    if (o.outcome === "not-found") {
      // Refused: the generation it should go back to was garbage-collected. Nothing automatic is
      // left that would not re-apply the broken one.
      const q: Action = { kind: "quarantine", deployment: a.deployment, host: a.host };
      await this.deps.decider.quarantine(
        { action: q, key: actionKey(q), reason: `rollback refused: ${o.message}`, hosts: [a.host] },
        o.actor,
        o.finishedAt,
      );
    }
  }

  private async hold(
    a: Extract<Action, { kind: "rollback" }>,
    to: string,
    actor: string,
    at: number,
  ): Promise<void> {
    const mem = await this.deps.store.generationMemory(a.deployment, a.host);
    const bad = a.from ?? mem?.current;
    if (bad === undefined || bad === to) return;
    const entry = mem?.entries.find((e) => e.path === bad);
    const cause = entry?.cause ?? (mem ? currentEntry(mem)?.cause : undefined);
    const hold: HoldEntry = {
      deployment: a.deployment,
      host: a.host,
      bad,
      to,
      since: at,
      reason: a.broke ?? entry?.reason ?? "a failure the ladder could not heal",
      ...(cause !== undefined ? { cause } : {}),
      actor,
    };
    await this.deps.store.setHold(hold);
    this.deps.metrics.held.set({ deployment: a.deployment, host: a.host }, 1);
    if (cause !== undefined && (await this.deps.store.announceCause(a.deployment, cause, at))) {
      await this.deps.emit({
        kind: "cause",
        deployment: a.deployment,
        reason: `${cause} broke ${a.host} (${generationName(bad)}); NixGuard rolls back each host it broke, and holds it`,
        actor,
      });
    }
    await this.deps.emit({
      kind: "hold",
      deployment: a.deployment,
      host: a.host,
      action: "rollback",
      outcome: "held",
      reason: `${describeHold(hold)}; not redeployed automatically until a deploy brings another generation or an operator releases it`,
      actor,
    });
  }

  /** Operator: the host's hold ends (automatic redeploys may bring any generation again). */
  async release(deployment: string, host: string, actor: string): Promise<HoldEntry> {
    const removed = await this.deps.store.removeHold(deployment, host);
    if (!removed) throw new NixGuardError("NOT_FOUND", `${deployment}/${host} is not held`);
    this.deps.metrics.held.set({ deployment, host }, 0);
    await this.deps.emit({
      kind: "hold",
      deployment,
      host,
      outcome: "released",
      reason: `hold released by ${actor} (was: ${describeHold(removed)})`,
      actor,
    });
    return removed;
  }
}

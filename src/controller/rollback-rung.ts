import { type Action, actionKey } from "../action.js";
import { formatDuration } from "../config/duration.js";
import { currentEntry, generationName, knownGood } from "./generations.js";
import type { RemediationConfig } from "./policy/types.js";
import type { PolicyState } from "./policy-state.js";
import type { HostHealth } from "./types.js";

export interface RollbackRungInput {
  deployment: string;
  host: string;
  health: HostHealth;
  state: PolicyState;
  config: RemediationConfig;
  now: number;
  /** Units the ladder would restart (empty: nothing a restart could heal). */
  restartable: readonly string[];
  /** What failed, for the reason: failing checks' ids. */
  failing: readonly string[];
}

export interface RollbackPlan {
  action: Extract<Action, { kind: "rollback" }>;
  key: string;
  reason: string;
}

/**
 * The rollback rung, pure: the host turned failing within `rollback.window` of switching to a
 * generation never known-good, a restart did not heal it (or nothing restartable failed: a unit
 * gone with the switch), and a known-good generation is remembered → roll back to the newest
 * known-good. A redeploy would apply the same broken generation again, so it is skipped. No
 * known-good generation: undefined, and the ladder goes on as before (redeploy, quarantine).
 */
export function planRollback(input: RollbackRungInput): RollbackPlan | undefined {
  const { health: h, state, config, now } = input;
  const rb = config.rollback;
  if (rb.mode === "off" || h.state !== "failing" || !h.currentSystem) return undefined;
  const mem = state.memory[input.host];
  const cur = mem ? currentEntry(mem) : undefined;
  if (!mem || !cur || cur.path !== h.currentSystem || cur.verdict === "good") return undefined;
  // Failing before the switch, or long after it: not this generation's doing as far as NixGuard knows.
  if (h.since < cur.since || h.since - cur.since > rb.window) return undefined;
  const to = knownGood(mem);
  if (to.length === 0) return undefined;

  const restartKey = actionKey({
    kind: "restart",
    deployment: input.deployment,
    host: input.host,
    units: [],
  });
  const restarts = (state.attempts[restartKey] ?? []).filter((t) => t >= cur.since && t <= now).length;
  if (input.restartable.length > 0 && restarts < rb.afterRestarts) return undefined;

  const action: RollbackPlan["action"] = {
    kind: "rollback",
    deployment: input.deployment,
    host: input.host,
    to,
    from: cur.path,
    broke: input.failing.join(", "),
  };
  const tried =
    input.restartable.length > 0 ? `${restarts} restart(s) did not heal` : "nothing a restart could heal";
  const switched = `switched ${formatDuration(Math.max(0, h.since - cur.since))} before (${cur.by === "nixguard" ? "by NixGuard" : "by someone else"})`;
  return {
    action,
    key: actionKey(action),
    reason:
      `${input.host}: ${input.failing.join(", ")} failing on ${generationName(cur.path)}, ${switched}; ${tried}; ` +
      `rolling back to known-good ${generationName(to[0] as string)}; ` +
      `redeploy skipped: it would apply ${generationName(cur.path)} again`,
  };
}

import { type ActionOrigin, ALLOW, blocked, describeScope, type GateResult, type Pause } from "./types.js";

export interface PauseInput {
  deployment: string;
  /** Hosts the action would touch: a deployment-wide apply touches them all. */
  touchedHosts: readonly string[];
  pauses: readonly Pause[];
  origin: ActionOrigin;
}

/** Pauses in force: one without `until` lasts until resumed, the others expire. */
export function activePauses(pauses: readonly Pause[], now: number): Pause[] {
  return pauses.filter((p) => p.until === undefined || p.until > now);
}

/** Active pauses covering the action, widest scope first. Expired pauses no longer count. */
export function coveringPauses(input: Omit<PauseInput, "origin">, now: number): Pause[] {
  const active = activePauses(input.pauses, now);
  const rank = { global: 0, deployment: 1, host: 2 } as const;
  return active
    .filter((p) => {
      const s = p.scope;
      if (s.kind === "global") return true;
      if (s.deployment !== input.deployment) return false;
      return s.kind === "deployment" || input.touchedHosts.includes(s.host);
    })
    .sort((a, b) => rank[a.scope.kind] - rank[b.scope.kind]);
}

export function pauseGate(input: PauseInput, now: number): GateResult {
  if (input.origin.manual && input.origin.force) return ALLOW;
  const pause = coveringPauses(input, now)[0];
  if (!pause) return ALLOW;
  return blocked(
    "paused",
    `${describeScope(pause.scope)} paused by ${pause.actor}: ${pause.reason}`,
    pause.until,
  );
}

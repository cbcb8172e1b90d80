import type { UnitState } from "../../probes/types.js";

/**
 * Crash loops, judged over time (Kubernetes' CrashLoopBackOff is the model for the wording). A
 * service with `Restart=always` whose process keeps dying never turns `failed` when its
 * `RestartSec` outlasts the start limit: probe after probe it shows `activating (auto-restart)`
 * or a brief `active (running)` while `NRestarts` climbs. One snapshot cannot tell that from a
 * healthy unit; the restarts seen between observations can. Pure.
 */

export interface CrashLoopSettings {
  /** This many restarts seen within `windowMs` make a crash loop. */
  restarts: number;
  windowMs: number;
}

/** What a unit's check remembers between observations; absent while the unit never restarted. */
export interface RestartMemory {
  /** Restarts systemd had made at the last observation (see `restartsSoFar`). */
  seen: number;
  /** Growth seen within the window: [observed at, previous observation at, restarts added]. */
  events: readonly (readonly [number, number, number])[];
  /** How the main process last ended, when an observation caught it: [ExecMainCode, ExecMainStatus]. */
  lastExit?: readonly [number, number];
  /**
   * `activating (auto-restart)` spells seen within the window: [first seen at, previous
   * observation at]. Kept across a count that went down: NixGuard's own restart resets NRestarts
   * but does not end a loop (only steady running does), so the snapshot rule can still say how
   * many restarts in how long it has watched.
   */
  spells?: readonly (readonly [number, number])[];
  /** restartsSoFar at the last observation, when it was in auto-restart: the same spell while equal. */
  inSpell?: number;
}

export interface CrashLoop {
  restarts: number;
  /** From the observation before the first counted restart to now. */
  spanMs: number;
  lastExit?: readonly [number, number];
}

/**
 * Restarts systemd has made so far. NRestarts counts a restart when it is carried out, after
 * RestartSec; a unit waiting in `auto-restart` has one more on its way. Counting it now catches
 * a loop one cycle earlier, and the restart is not counted twice when NRestarts catches up.
 */
export function restartsSoFar(u: UnitState): number {
  return u.nRestarts + (u.subState === "auto-restart" ? 1 : 0);
}

/**
 * Next memory and, when the restarts within the window reach the threshold, the crash loop.
 * `prevAt` is the previous observation of this check (undefined: none, the first observation is
 * only a baseline — restarts made before NixGuard looked are not dated). A count that went down
 * means the unit was started afresh (an explicit start or restart, a reboot): what came before is
 * over, and what is counted now happened since.
 */
export function trackRestarts(
  prev: RestartMemory | undefined,
  prevAt: number | undefined,
  u: UnitState,
  now: number,
  settings: CrashLoopSettings,
): { memory?: RestartMemory; loop?: CrashLoop; spell?: CrashLoop } {
  const seen = restartsSoFar(u);
  const waiting = u.subState === "auto-restart";
  const exit: readonly [number, number] | undefined =
    u.execMainCode !== undefined && u.execMainCode > 0 ? [u.execMainCode, u.execMainStatus ?? 0] : undefined;
  if (prevAt === undefined) {
    // A baseline, but a spell under way is one restart seen, dated from now.
    const spells = waiting ? [[now, now] as const] : [];
    const memory = seen > 0 ? memoryOf(seen, [], exit, spells, waiting ? seen : undefined) : undefined;
    return {
      ...(memory ? { memory } : {}),
      ...(waiting ? { spell: spellLoop(spells, 0, now, now, exit) } : {}),
    };
  }
  const before = prev?.seen ?? 0;
  const reset = seen < before;
  const added = reset ? seen : seen - before;
  const from = now - settings.windowMs;
  let events = reset || !prev ? [] : prev.events.filter((e) => e[0] >= from);
  if (added > 0) events = [...events, [now, prevAt, added] as const];
  let spells = (prev?.spells ?? []).filter((s) => s[0] >= from);
  if (waiting && prev?.inSpell !== seen) spells = [...spells, [now, prevAt] as const];
  // Running steadily for longer than the threshold's spacing (window / restarts): whatever the
  // window still holds, the loop is over — a switch that fixed the unit need not restart it
  // explicitly, and systemd keeps NRestarts when a start replaces a pending automatic restart.
  if (steadyFor(u, now) >= settings.windowMs / settings.restarts) {
    events = [];
    spells = [];
  }
  const lastExit = exit ?? (reset && spells.length === 0 ? undefined : prev?.lastExit);
  const inSpell = waiting ? seen : undefined;
  const memory =
    seen > 0 || events.length > 0 || spells.length > 0
      ? memoryOf(seen, events, lastExit, spells, inSpell)
      : undefined;
  let restarts = 0;
  let start = now;
  for (const e of events) {
    restarts += e[2];
    start = Math.min(start, e[1]);
  }
  const out = {
    ...(memory ? { memory } : {}),
    ...(waiting ? { spell: spellLoop(spells, restarts, start, now, lastExit) } : {}),
  };
  if (restarts < settings.restarts) return out;
  const loop: CrashLoop = { restarts, spanMs: now - start };
  if (lastExit) loop.lastExit = lastExit;
  return { ...out, loop };
}

/**
 * The loop as the snapshot rule reports it (a unit waiting in auto-restart): the restarts seen
 * within the window — NRestarts' growth or the spells watched, whichever counts more — over the
 * time since the observation before the first of them.
 */
function spellLoop(
  spells: readonly (readonly [number, number])[],
  restarts: number,
  start: number,
  now: number,
  lastExit: readonly [number, number] | undefined,
): CrashLoop {
  let from = start;
  for (const s of spells) from = Math.min(from, s[1]);
  const loop: CrashLoop = { restarts: Math.max(1, restarts, spells.length), spanMs: now - from };
  if (lastExit) loop.lastExit = lastExit;
  return loop;
}

/** How long the unit has been active (running) without a restart; 0 when it is not active. */
function steadyFor(u: UnitState, now: number): number {
  if (u.activeState !== "active" || u.activeEnterTimestamp === undefined) return 0;
  return now - u.activeEnterTimestamp;
}

function memoryOf(
  seen: number,
  events: RestartMemory["events"],
  lastExit: readonly [number, number] | undefined,
  spells: NonNullable<RestartMemory["spells"]> = [],
  inSpell?: number,
): RestartMemory {
  const m: RestartMemory = lastExit ? { seen, events, lastExit } : { seen, events };
  if (spells.length > 0) m.spells = spells;
  if (inSpell !== undefined) m.inSpell = inSpell;
  return m;
}

// The signals a service's main process commonly dies of; others are named by number.
const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
};

const signalName = (n: number) => SIGNALS[n] ?? `signal ${n}`;

/** ExecMainCode/ExecMainStatus in words: `exit code 3`, `killed by SIGKILL`, `dumped core (SIGSEGV)`. */
export function describeExit(code: number, status: number): string {
  switch (code) {
    case 1:
      return `exit code ${status}`;
    case 2:
      return `killed by ${signalName(status)}`;
    case 3:
      return `dumped core (${signalName(status)})`;
    default:
      return `exit status ${status}`;
  }
}

/** `crash loop: 4 restarts in 60 s, last exit code 3`. */
export function crashLoopReason(loop: CrashLoop): string {
  const span = `${Math.max(1, Math.round(loop.spanMs / 1000))} s`;
  const last = loop.lastExit ? `, last ${describeExit(loop.lastExit[0], loop.lastExit[1])}` : "";
  return `crash loop: ${loop.restarts} restart${loop.restarts === 1 ? "" : "s"} in ${span}${last}`;
}

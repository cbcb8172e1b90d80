/**
 * A simulated unit's life, as real systemd 252 records it (test/fixtures/golden/systemctl/real):
 * which properties each transition sets, clears or keeps. Pure: a unit and a time in, the next
 * unit out; the fleet decides when transitions happen.
 */

/** One unit as systemd would report it; field values are systemd's own strings. */
export interface SimUnit {
  id: string;
  loadState: string;
  activeState: string;
  subState: string;
  result: string;
  nRestarts: number;
  /** Service Type=; "" for units that are not services (timers). */
  type: string;
  oneshot: boolean;
  // The unit file.
  restart: string;
  restartUSec: string;
  remainAfterExit: boolean;
  /** Timers: the unit they start (Unit=). */
  triggers?: string;
  // The main process: MainPID while it runs; ExecMain* keep the last one after it ended.
  mainPid: number;
  execMainPid: number;
  execMainCode: number;
  execMainStatus: number;
  execMainStartAt?: number;
  execMainExitAt?: number;
  // Epoch ms of the state changes; undefined = never (systemd prints an empty value).
  stateChangeAt?: number;
  inactiveExitAt?: number;
  activeEnterAt?: number;
  activeExitAt?: number;
  inactiveEnterAt?: number;
  conditionResult: "yes" | "no";
  conditionAt?: number;
  /** A job in progress (a restart waiting for a stop that hangs). */
  job?: number;
}

/** CLD_EXITED, CLD_KILLED: how ExecMainCode says the main process ended. */
export const EXITED = 1;
export const KILLED = 2;
const SIGTERM = 15;

export interface UnitFile {
  oneshot: boolean;
  type: string;
  /** Restart=; NixOS services mostly say on-failure or always. */
  restart?: string;
  remainAfterExit?: boolean;
}

/**
 * A unit systemd has loaded but never started — or started, finished and unloaded (a oneshot
 * without RemainAfterExit that nothing references is garbage-collected after its run, and the
 * next `systemctl show` loads it afresh): every timestamp empty, ConditionResult=no.
 */
export function loadedUnit(id: string, file: UnitFile): SimUnit {
  const timer = id.endsWith(".timer");
  const unit: SimUnit = {
    id,
    loadState: "loaded",
    activeState: "inactive",
    subState: "dead",
    result: "success",
    nRestarts: 0,
    type: file.type,
    oneshot: file.oneshot,
    restart: file.restart ?? "no",
    restartUSec: "100ms",
    remainAfterExit: file.remainAfterExit ?? false,
    mainPid: 0,
    execMainPid: 0,
    execMainCode: 0,
    execMainStatus: 0,
    conditionResult: "no",
  };
  if (timer) unit.triggers = `${id.slice(0, -".timer".length)}.service`;
  return unit;
}

/** What systemd reports for a unit it has no file for. */
export function notFoundUnit(id: string): SimUnit {
  const unit = loadedUnit(id, { oneshot: false, type: "" });
  unit.loadState = "not-found";
  if (unit.triggers) unit.triggers = "";
  return unit;
}

/**
 * Started (at boot, by a switch, or by `systemctl start/restart`): a service runs with a new main
 * process, a timer waits, a oneshot ran to success (RemainAfterExit: active (exited); otherwise
 * finished and unloaded). An explicit start sets NRestarts back to 0; an automatic restart keeps
 * counting (`restarts`).
 */
export function startedUnit(u: SimUnit, at: number, pid: number, restarts = 0): SimUnit {
  const base = { ...u, nRestarts: restarts, result: "success", conditionResult: "yes" as const };
  base.conditionAt = at;
  delete base.job;
  if (u.oneshot && !u.remainAfterExit) return loadedUnit(u.id, u);
  const next: SimUnit = {
    ...base,
    activeState: "active",
    subState: u.id.endsWith(".timer") ? "waiting" : u.oneshot ? "exited" : "running",
    stateChangeAt: at,
    inactiveExitAt: at,
    activeEnterAt: at,
  };
  if (!u.id.endsWith(".service")) return next;
  next.execMainPid = pid;
  next.execMainStartAt = at;
  if (u.oneshot) {
    // The oneshot's process has ended (status 0): nothing runs, the last exit is kept.
    next.mainPid = 0;
    next.execMainCode = EXITED;
    next.execMainStatus = 0;
    next.execMainExitAt = at;
  } else {
    next.mainPid = pid;
    next.execMainCode = 0;
    next.execMainStatus = 0;
    delete next.execMainExitAt;
  }
  return next;
}

/** The last state left: inactive and failed units were active once and left at `at`. */
function left(u: SimUnit, at: number): SimUnit {
  const next = { ...u, mainPid: 0, stateChangeAt: at, inactiveEnterAt: at };
  if (u.activeState === "active" || u.activeState === "deactivating") next.activeExitAt = at;
  delete next.job;
  return next;
}

/**
 * The main process exited with `status` (or was killed by signal `status` when `code` is KILLED).
 * Restart=always/on-failure: waiting in `activating (auto-restart)` for RestartSec; otherwise
 * failed. A oneshot's failed run never entered active.
 */
export function exitedUnit(
  u: SimUnit,
  at: number,
  status: number,
  code = EXITED,
  autoRestart = true,
): SimUnit {
  const next = left(u, at);
  next.execMainCode = code;
  next.execMainStatus = status;
  next.execMainExitAt = at;
  next.result = code === KILLED ? "signal" : status === 0 ? "success" : "exit-code";
  if (autoRestart && (u.restart === "always" || u.restart === "on-failure")) {
    next.activeState = "activating";
    next.subState = "auto-restart";
  } else {
    next.activeState = "failed";
    next.subState = "failed";
  }
  return next;
}

/** `systemctl stop`: SIGTERM to the main process; inactive (dead), Result=success. */
export function stoppedUnit(u: SimUnit, at: number): SimUnit {
  const next = left(u, at);
  next.activeState = "inactive";
  next.subState = "dead";
  next.result = "success";
  if (u.mainPid > 0) {
    next.execMainCode = KILLED;
    next.execMainStatus = SIGTERM;
    next.execMainExitAt = at;
  }
  return next;
}

/**
 * Started too often within StartLimitIntervalSec (an automatic loop, or explicit restarts): failed.
 * systemd keeps a failure's Result (an exit-code loop stays `exit-code`); only a unit whose last
 * result was success says `start-limit-hit`.
 */
export function startLimitedUnit(u: SimUnit, at: number): SimUnit {
  // A process still running is stopped first; one that already died keeps how it ended.
  const next = u.mainPid > 0 ? stoppedUnit(u, at) : left(u, at);
  next.activeState = "failed";
  next.subState = "failed";
  if (next.result === "success") next.result = "start-limit-hit";
  next.stateChangeAt = at;
  return next;
}

/**
 * A run that failed at once (a oneshot, or a service whose start failed): the process ran and
 * exited `status`; nothing restarts it. A oneshot's failed run never entered active.
 */
export function failedRunUnit(u: SimUnit, at: number, pid: number, status: number): SimUnit {
  const ran: SimUnit = {
    ...u,
    execMainPid: pid,
    execMainStartAt: at,
    inactiveExitAt: at,
    conditionResult: "yes",
    conditionAt: at,
  };
  return exitedUnit(ran, at, status, EXITED, false);
}

/** Skipped by its ExecCondition= (exit 1–254): inactive (dead), Result=exec-condition, ConditionResult=no. */
export function conditionSkippedUnit(u: SimUnit, at: number): SimUnit {
  return { ...u, result: "exec-condition", conditionResult: "no", conditionAt: at, stateChangeAt: at };
}

/** Starting, still in ExecStartPre: activating (start-pre), the start job running, never entered active. */
export function startingUnit(u: SimUnit, at: number, job: number): SimUnit {
  return {
    ...u,
    activeState: "activating",
    subState: "start-pre",
    conditionResult: "yes",
    conditionAt: at,
    stateChangeAt: at,
    inactiveExitAt: at,
    job,
  };
}

/** `systemctl restart` of a unit whose ExecStop hangs: deactivating (stop), the job running for ever. */
export function stopHungUnit(u: SimUnit, at: number, job: number): SimUnit {
  return { ...u, activeState: "deactivating", subState: "stop", stateChangeAt: at, activeExitAt: at, job };
}

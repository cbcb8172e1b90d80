import type { ActionOutcomeKind } from "../action.js";
import { isNixGuardError } from "../errors.js";
import type { HostFacts, UnitState } from "../probes/types.js";

/**
 * An action cut off by its host: the host rebooted or its sshd went away while a restart or a
 * switch ran. What broke is the connection, not the action — systemd carries a restart job or a
 * switch's transient unit on without it, and a reboot starts the units again. So the outcome is
 * decided by fresh probes once the host answers again, not by the broken connection. Pure.
 */

/**
 * Why a restart's error says nothing about the restart itself, or undefined when it does (the
 * remote systemctl reported a failure with the session intact, ssh never connected, the host key
 * was refused). ssh exits 255 when the connection drops mid-command or the remote command is
 * killed by a signal (a shutdown kills every session); systemd cancels a restart job when a
 * reboot or shutdown is queued (`Job for X canceled.`, systemctl exits 1 while sshd still answers).
 */
export function restartInterruption(err: unknown): string | undefined {
  if (!isNixGuardError(err)) return undefined;
  if (err.code === "PROBE_UNREACHABLE") {
    // Never connected, or refused: nothing ran on the host.
    if (
      /ssh: connect|Could not resolve hostname|authentication failed|Connection refused|Connection timed out|No route to host/.test(
        err.message,
      )
    )
      return undefined;
    return `the connection broke (${err.message})`;
  }
  if (err.code === "COMMAND_FAILED") {
    const tail = "stderrTail" in err && typeof err.stderrTail === "string" ? err.stderrTail : "";
    if (/^Job for \S+ canceled\.$/m.test(tail))
      return "systemd canceled the restart job (a reboot or shutdown?)";
  }
  return undefined;
}

/**
 * Why a failed `nixops4 apply` may have been cut off by a host rather than failed on it: a
 * machine's ssh exited 255 (nixops4-nixos passes its exit status on) or said the connection
 * closed. The switch runs in a transient unit on the host and carries on without the session.
 */
export function applyInterruption(message: string, stderrTail: string): string | undefined {
  if (/exit code: 255\b/.test(message)) return "a machine's ssh session broke (exit 255)";
  const lost = /Connection to \S+ closed by remote host|client_loop: send disconnect|Broken pipe/.exec(
    stderrTail,
  );
  return lost ? `a machine's ssh session broke (${lost[0]})` : undefined;
}

/** The transient unit a switch runs in (nixos-rebuild and nixops4-nixos name it so). */
export const SWITCH_UNIT = "nixos-rebuild-switch-to-configuration.service";

export type Settled =
  | { outcome: "success"; note: string }
  | { outcome: "failed"; note: string }
  /** Not decided by this observation: ask again until the deadline. */
  | { wait: string };

const state = (u: UnitState) => (u.subState ? `${u.activeState} (${u.subState})` : u.activeState);

/**
 * One fresh observation of a host after the interruption, judged for the units the action
 * touched: all up (active, or a oneshot whose last run succeeded) → success; one down for good
 * (failed, waiting to auto-restart, not loaded) → failed; unreachable, a unit on its way somewhere
 * (activating, deactivating, reloading) or stopped cleanly (inactive, Result=success) → wait: a host
 * shutting down shows those before its sshd goes, and what counts is how it comes back. `busy`: units whose presence means the action still runs (a switch's
 * transient unit): while one is active or activating, wait.
 */
export function settleVerdict(
  units: readonly string[],
  facts: HostFacts | undefined,
  busy: readonly string[] = [],
): Settled {
  if (!facts) return { wait: "host unreachable" };
  for (const b of busy) {
    const u = facts.units[b];
    if (u && u.loadState === "loaded" && (u.activeState === "active" || u.activeState === "activating"))
      return { wait: `${b} ${state(u)}` };
  }
  const up: string[] = [];
  for (const name of units) {
    const u = facts.units[name];
    if (u?.loadState !== "loaded")
      return { outcome: "failed", note: `${name} ${u?.loadState ?? "not reported"}` };
    if (u.subState === "auto-restart") return { outcome: "failed", note: `${name} ${state(u)}` };
    if (u.activeState === "activating" || u.activeState === "deactivating" || u.activeState === "reloading")
      return { wait: `${name} ${state(u)}` };
    const stopped = u.activeState === "inactive" && u.result === "success";
    if (stopped && u.type === "oneshot") {
      up.push(`${name} ${state(u)}, last run succeeded`);
      continue;
    }
    // Stopped cleanly, not failed: what a shutdown does to every unit before sshd goes.
    if (stopped) return { wait: `${name} ${state(u)}` };
    if (u.activeState !== "active") return { outcome: "failed", note: `${name} ${state(u)}` };
    up.push(`${name} ${state(u)}`);
  }
  return { outcome: "success", note: up.join(", ") || "host answers" };
}

/** The outcome when the deadline ends the wait: the host never answered, or never settled. */
export function unsettledOutcome(last: Settled | undefined): ActionOutcomeKind {
  return last === undefined || ("wait" in last && last.wait === "host unreachable")
    ? "unreachable"
    : "timeout";
}

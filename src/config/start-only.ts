import type { ConfigIssue } from "../errors.js";
import { valueAt } from "./load.js";
import type { Config } from "./schema.js";

/**
 * Settings read once, at start: the Redis connection and state directory, the API listener and
 * its tokens, the probe scheduler's timing, the worker and nixops4 runner, leader election, logging.
 * A reload applies deployments (with their ssh settings), remediation, schedule, notify and the
 * health thresholds; it must not report success while quietly ignoring one of these. The NixOS
 * module (nix/module.nix) restarts the service instead of reloading it for the same list.
 */
export const START_ONLY: readonly (readonly string[])[] = [
  ["redis"],
  ["state"],
  ["log"],
  ["api"],
  ["probes", "interval"],
  ["probes", "timeout"],
  ["probes", "jitter"],
  ["probes", "concurrency"],
  ["probes", "sharing"],
  ["nixops4"],
  ["worker"],
  ["leader"],
];

/** One issue per start-only setting that differs between the running config and the new one. */
export function startOnlyChanges(running: Config, next: Config): ConfigIssue[] {
  return START_ONLY.filter(
    (path) => JSON.stringify(valueAt(running, path)) !== JSON.stringify(valueAt(next, path)),
  ).map((path) => ({
    path: path.join("."),
    message: "changed, but read only at start: restart NixGuard to apply it (nothing was reloaded)",
  }));
}

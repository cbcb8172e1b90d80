import type { NixGuardEvent } from "../controller/types.js";
import type { FaultSpec } from "../sim/faults.js";
import { CRASH_LOOP, FLAP_PERIOD_MS, ROLLBACK_HELD_MS } from "./config.js";

/**
 * The demo's rotation: one fault per step, each ending in an event the demo waits for. Pure
 * data; rotation.ts drives them against the simulator and the running NixGuard.
 */
export interface Scenario {
  /** For `nixguard demo --scenario NAME`. */
  name: string;
  title: string;
  /** What the newcomer should watch for. */
  expect: string;
  host: string;
  fault: FaultSpec;
  /** What the fault looks like, for the FAULT line. */
  injected: string;
  /** The event that completes the story. */
  endsWith: (e: NixGuardEvent) => boolean;
  /** Quarantine stops automatic action: the demo plays the operator who fixes and clears it. */
  operatorClears?: boolean;
  /**
   * The fault is a broken commit: the demo plays the panel that deploys it (once the host's
   * running generation is known-good, so there is one to go back to), shows the host held for
   * `heldMs`, then commits a fix and deploys it; the story ends with `fixedWhen`.
   */
  panel?: { heldMs: number; fixedWhen: (e: NixGuardEvent) => boolean };
}

const on = (
  host: string,
  kind: NixGuardEvent["kind"],
  action?: NixGuardEvent["action"],
  outcome?: NixGuardEvent["outcome"],
) => {
  return (e: NixGuardEvent) =>
    e.host === host &&
    e.kind === kind &&
    (!action || e.action === action) &&
    (!outcome || e.outcome === outcome);
};

export function demoScenarios(drift: "redeploy" | "alert" | "ignore" = "redeploy"): Scenario[] {
  return [
    {
      name: "restart",
      title: "A unit fails: NixGuard restarts it",
      expect: "detected after 2 failed probes → restart queued → systemctl restart over ssh → healthy",
      host: "mastodon",
      fault: { kind: "unit-fail", host: "mastodon", unit: "mastodon-sidekiq-all.service" },
      injected: "mastodon-sidekiq-all.service crashed (failed, Result=exit-code)",
      endsWith: on("mastodon", "recover"),
    },
    {
      name: "redeploy",
      title: "A unit keeps failing: restarts do not help, a redeploy does",
      expect:
        "2 restarts fail → the ladder moves on → nixops4 apply of the deployment's target (a machine has none of its own) → healthy",
      host: "peertube",
      fault: { kind: "unit-fail", host: "peertube", unit: "peertube.service", keepFailing: true },
      injected: "peertube.service fails, and fails again on every restart until a deploy",
      endsWith: on("peertube", "recover"),
    },
    {
      name: "crash-loop",
      title: "mastodon-streaming-1 crash-loops: never `failed`, judged over time",
      expect:
        "NRestarts climbs while the unit is up half the time → `crash loop: N restarts in …` → restarts start it over, the loop comes back → nixops4 apply → healthy",
      host: "mastodon",
      fault: {
        kind: "crash-loop",
        host: "mastodon",
        unit: "mastodon-streaming-1.service",
        upMs: CRASH_LOOP.upMs,
        restartSecMs: CRASH_LOOP.restartSecMs,
        exitCode: 3,
      },
      injected: `mastodon-streaming-1.service (Restart=always) dies ${CRASH_LOOP.upMs / 1000} s after each start with exit code 3; systemd starts it again ${CRASH_LOOP.restartSecMs / 1000} s later`,
      endsWith: on("mastodon", "recover"),
    },
    {
      name: "drift",
      title: "Someone switched pixelfed to another system by hand (drift)",
      expect:
        drift === "redeploy"
          ? "/run/current-system differs from NixGuard's last deploy → redeploy puts it back"
          : "/run/current-system differs from NixGuard's last deploy → an alert (drift: alert)",
      host: "pixelfed",
      fault: { kind: "drift", host: "pixelfed" },
      injected: "/run/current-system now points at a generation NixGuard did not deploy",
      endsWith: drift === "redeploy" ? on("pixelfed", "outcome", "redeploy") : on("pixelfed", "drift"),
    },
    {
      name: "quarantine",
      title: "garage.service flaps: nothing holds it, NixGuard quarantines the host",
      expect: "restarts, then a redeploy, do not heal it; the budget is spent → quarantine, no more actions",
      host: "garage",
      fault: { kind: "flap", host: "garage", unit: "garage.service", periodMs: FLAP_PERIOD_MS },
      injected: `garage.service flaps: down ${FLAP_PERIOD_MS / 1000} s, up ${FLAP_PERIOD_MS / 1000} s; restarts and deploys do not stop it`,
      endsWith: on("garage", "quarantine"),
      operatorClears: true,
    },
    {
      name: "rollback",
      title: "A deploy breaks mastodon-web: rolled back to the last known-good generation, and held",
      expect:
        "the panel deploys a broken commit → mastodon-web.service fails → 1 restart does not heal → redeploy skipped (same broken generation) → switched back to the known-good generation (nix-env --set, switch-to-configuration in systemd-run) → healthy, held; the panel's fix releases the hold",
      host: "mastodon",
      fault: { kind: "broken-generation", host: "mastodon", unit: "mastodon-web.service" },
      injected:
        "the flake's next commit makes mastodon-web.service exit at start (on that generation only); the panel deploys it",
      endsWith: on("mastodon", "hold", "rollback", "held"),
      panel: { heldMs: ROLLBACK_HELD_MS, fixedWhen: on("mastodon", "hold", undefined, "released") },
    },
  ];
}

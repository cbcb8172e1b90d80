import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import type { PauseScope } from "../../../src/controller/policy/index.js";
import { AlertTour, EPISODES, type TourDeps } from "../../../src/demo/alert-tour.js";

const RULES = readFileSync("contrib/prometheus/alerts.yml", "utf8");
const ALERTS = [...RULES.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1] as string);

test("the episodes of `demo --alerts` name every alert of alerts.yml once, but the two that need none", () => {
  const named = EPISODES.flatMap((e) => e.alerts);
  expect(new Set(named).size).toBe(named.length);
  // TLSCertExpiringSoon fires on the demo's TLS endpoint throughout; NixGuardDown when it stops.
  expect([...named, "TLSCertExpiringSoon", "NixGuardDown"].sort()).toEqual([...ALERTS].sort());
});

test("each episode is held holdMs and ended, and the fault is ended even when the demo stops mid-hold", async () => {
  const calls: string[] = [];
  const deps: TourDeps = {
    control: {
      inject: async (f) => {
        calls.push(`inject ${f.kind} ${f.host}`);
        return { id: "1", spec: f, since: 0, clearedBy: "heal" };
      },
      healAll: async () => {
        calls.push("healAll");
        return { healed: true };
      },
      setNixops4: async (b) => {
        calls.push(`nixops4 ${b.mode}`);
        return b as never;
      },
    },
    reset: async (s: PauseScope) => calls.push(`reset ${s.kind}`),
    pause: async (s: PauseScope) => calls.push(`pause ${s.kind === "host" ? s.host : s.kind}`),
    resume: async (s: PauseScope) => calls.push(`resume ${s.kind === "host" ? s.host : s.kind}`),
    request: async (a) => calls.push(`request ${a.kind}`),
    pauseWorker: async () => {
      calls.push("pauseWorker");
    },
    resumeWorker: () => calls.push("resumeWorker"),
    stopLeading: async () => {
      calls.push("stopLeading");
    },
    startLeading: async () => {
      calls.push("startLeading");
    },
    fleetHealthy: async () => true,
    deployment: "fediversity",
    holdMs: 40,
    say: (_h, tag) => calls.push(tag),
    heading: () => {},
  };
  const tour = new AlertTour(deps);
  const t0 = performance.now();
  tour.start();
  // Two episodes and part of the third: 2 × 40 ms plus some.
  while (!calls.includes("stopLeading")) await new Promise((r) => setTimeout(r, 5));
  await tour.stop();
  expect(performance.now() - t0).toBeGreaterThanOrEqual(80);
  expect(calls).toEqual([
    "reset deployment",
    "nixops4 fail",
    "inject unit-fail peertube",
    "inject drift pixelfed",
    "FAULT",
    "nixops4 ok",
    "healAll",
    "reset deployment",
    "HEALED",
    "reset deployment",
    "inject unreachable garage",
    "inject unreachable mastodon",
    "inject unreachable peertube",
    "pause garage",
    "FAULT",
    "healAll",
    "resume garage",
    "HEALED",
    "reset deployment",
    "pauseWorker",
    "request redeploy",
    "stopLeading",
    "FAULT",
    // Stopped mid-hold: the leader and the worker come back, for a clean shutdown.
    "startLeading",
    "resumeWorker",
    "HEALED",
  ]);
});

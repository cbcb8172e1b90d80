import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Fleet, type SimHost } from "../../../src/sim/fleet.js";
import { simLayout } from "../../../src/sim/layout.js";
import { systemctl } from "../../../src/sim/render/systemctl.js";
import {
  conditionSkippedUnit,
  exitedUnit,
  failedRunUnit,
  loadedUnit,
  notFoundUnit,
  type SimUnit,
  startedUnit,
  startingUnit,
  startLimitedUnit,
  stopHungUnit,
  stoppedUnit,
} from "../../../src/sim/unit-life.js";

/**
 * The simulator against real systemd 252 (test/fixtures/golden/systemctl/real, recorded on real
 * systemd hosts in containers): for each recorded situation, the simulated unit that went
 * through the same life renders the same properties with the same values, for the same commands
 * (the probe's and the extended property lists of each meta.json) — modulo what differs from run
 * to run: timestamps (set or empty must agree), PIDs and job ids (zero or not must agree), and how
 * the unit file was installed (UnitFileState enabled/linked; empty for a missing unit must agree).
 */
const REAL = new URL("../../fixtures/golden/systemctl/real/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, REAL), "utf8");

function mask(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const eq = line.indexOf("=");
      if (eq < 0) return line;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (value === "" || value === "0") return line;
      if (/Timestamp$/.test(key)) return `${key}=<time>`;
      if (/TimestampMonotonic$/.test(key)) return `${key}=<monotonic>`;
      if (key === "MainPID" || key === "ExecMainPID") return `${key}=<pid>`;
      if (key === "Job") return `${key}=<job>`;
      if (key === "UnitFileState") return `${key}=<installed>`;
      return line;
    })
    .join("\n");
}

/** The [Service] settings of a recorded unit file that the simulator models. */
function unitFile(situation: string, unit: string) {
  const path = `${situation}/${unit.replace(/@\d+\./, "@.")}`;
  const text = existsSync(new URL(path, REAL)) ? read(path) : "";
  const get = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(text)?.[1];
  const type = unit.endsWith(".timer") ? "" : (get("Type") ?? "simple");
  const restartSec = get("RestartSec");
  return {
    file: {
      oneshot: type === "oneshot",
      type,
      restart: get("Restart") ?? "no",
      remainAfterExit: get("RemainAfterExit") === "yes",
    },
    restartUSec:
      restartSec === undefined ? "100ms" : /^\d+$/.test(restartSec) ? `${restartSec}s` : restartSec,
  };
}

const T0 = Date.UTC(2026, 11, 4, 17, 46, 0);
let pid = 100;
const next = () => ++pid;

/** Each recorded situation, lived by a simulated unit. */
const LIVES: Record<string, (u: SimUnit) => SimUnit> = {
  active: (u) => startedUnit(u, T0, next()),
  inactive: (u) => stoppedUnit(startedUnit(u, T0, next()), T0 + 5000),
  failed: (u) => exitedUnit(startedUnit(u, T0, next()), T0 + 10, 3),
  "crash-loop-start-limit": (u) => {
    let v = startedUnit(u, T0, next());
    for (let i = 1; i <= 5; i++)
      v = startedUnit(exitedUnit(v, T0 + i * 100, 3), T0 + i * 100 + 100, next(), i);
    return startLimitedUnit(exitedUnit(v, T0 + 700, 3), T0 + 800);
  },
  "start-limit-hit": (u) => {
    let v = startedUnit(u, T0, next());
    for (let i = 1; i <= 5; i++) v = startedUnit(stoppedUnit(v, T0 + i * 100), T0 + i * 100, next());
    return startLimitedUnit(v, T0 + 700);
  },
  "oneshot-success": (u) => startedUnit(u, T0, next()),
  "oneshot-remain": (u) => startedUnit(u, T0, next()),
  "oneshot-failure": (u) => failedRunUnit(u, T0, next(), 1),
  timer: (u) => startedUnit(u, T0, next()),
  "timer-service": (u) => u,
  templated: (u) => startedUnit(u, T0, next()),
  // Recorded unreferenced: garbage-collected after its skip, shown as loaded afresh.
  "condition-skip": (u) => u,
  activating: (u) => startingUnit(u, T0, 341),
  "hung-stop": (u) => stopHungUnit(startedUnit(u, T0, next()), T0 + 60_000, 1541),
};

function simHost(): { fleet: Fleet; host: SimHost } {
  const fleet = new Fleet(simLayout("fediversity"), { now: () => T0 });
  return { fleet, host: fleet.host("mastodon") as SimHost };
}

interface Meta {
  unit: string;
  commands: Record<"probe" | "extended", { command: string }>;
}

const render = (fleet: Fleet, host: SimHost, command: string) =>
  systemctl(fleet, host, command.split(" ").slice(1)).stdout;

describe("the simulator renders what real systemd rendered", () => {
  const situations = readdirSync(REAL).filter((d) => existsSync(new URL(`${d}/meta.json`, REAL)));

  it("covers every recorded single-unit situation", () => {
    const single = situations.filter((d) => (JSON.parse(read(`${d}/meta.json`)) as Meta).unit);
    const known = [...Object.keys(LIVES), "crash-loop", "not-found", "template"];
    expect(single.filter((d) => !known.includes(d))).toEqual([]);
  });

  for (const situation of Object.keys(LIVES)) {
    it(situation, () => {
      const meta = JSON.parse(read(`${situation}/meta.json`)) as Meta;
      const { file, restartUSec } = unitFile(situation, meta.unit);
      const unit = LIVES[situation]!({ ...loadedUnit(meta.unit, file), restartUSec });
      const { fleet, host } = simHost();
      host.units.set(meta.unit, unit);
      for (const kind of ["probe", "extended"] as const) {
        expect(mask(render(fleet, host, meta.commands[kind].command)), kind).toBe(
          mask(read(`${situation}/${kind}.txt`)),
        );
      }
    });
  }

  it("not-found", () => {
    const meta = JSON.parse(read("not-found/meta.json")) as Meta;
    const { fleet, host } = simHost();
    for (const kind of ["probe", "extended"] as const) {
      expect(render(fleet, host, meta.commands[kind].command)).toBe(read(`not-found/${kind}.txt`));
    }
    expect(notFoundUnit(meta.unit).loadState).toBe("not-found");
  });

  it("crash-loop: every snapshot, running or waiting in auto-restart, NRestarts as systemd counts", () => {
    const meta = JSON.parse(read("crash-loop/meta.json")) as Meta;
    const snapshots = readdirSync(new URL("crash-loop/snapshots/", REAL)).filter((f) => f.endsWith(".txt"));
    const { file } = unitFile("crash-loop", meta.unit);
    // The recorded unit: dies 2 s after each start, restarted 3 s later.
    const upMs = 2000;
    const restartSecMs = 3000;
    let now = T0;
    const fleet = new Fleet(simLayout("fediversity"), { now: () => now });
    const host = fleet.host("mastodon") as SimHost;
    host.units.set(meta.unit, startedUnit(loadedUnit(meta.unit, file), T0, next()));
    fleet.inject({ kind: "crash-loop", host: "mastodon", unit: meta.unit, upMs, restartSecMs, exitCode: 3 });
    expect(snapshots.length).toBeGreaterThan(20);
    const seen = new Set<string>();
    for (const name of snapshots) {
      // Probe and extended of one snapshot are two calls, not one instant: each file says where
      // in the cycle it was — running, or waiting after the crash — and with how many restarts.
      const real = read(`crash-loop/snapshots/${name}`);
      const restarts = Number(/^NRestarts=(\d+)$/m.exec(real)?.[1]);
      const running = /^SubState=running$/m.test(real);
      seen.add(running ? "running" : "auto-restart");
      const cycle = T0 + restarts * (upMs + restartSecMs);
      now = running ? cycle + upMs / 2 : cycle + upMs + restartSecMs / 2;
      const kind = name.endsWith("-probe.txt") ? "probe" : "extended";
      expect(mask(render(fleet, host, meta.commands[kind].command)), name).toBe(mask(real));
    }
    expect([...seen].sort()).toEqual(["auto-restart", "running"]);
  });
});

describe("the simulator renders NixGuard's own probe line as real systemd did", () => {
  // test/fixtures/systemctl/show/real-252-situations.txt: the probe's full property list
  // (ConditionTimestamp, Unit) on units that, unlike the recordings above, are referenced.
  const text = readFileSync(
    new URL("../../fixtures/systemctl/show/real-252-situations.txt", import.meta.url),
    "utf8",
  );
  const blocks = new Map(
    text
      .trimEnd()
      .split("\n\n")
      .map((b) => [/^Id=(.*)$/m.exec(b)?.[1] ?? "", `${b}\n`]),
  );
  const PROBE =
    "show --timestamp=unix --property=Id,LoadState,ActiveState,SubState,Result,NRestarts,Type,ActiveEnterTimestamp,ExecMainCode,ExecMainStatus,ConditionResult,ConditionTimestamp,Unit";
  const service = (id: string, restart = "no", oneshot = false, remainAfterExit = false) =>
    loadedUnit(id, { oneshot, type: oneshot ? "oneshot" : "simple", restart, remainAfterExit });
  const lives: Record<string, () => SimUnit> = {
    // Restart=always, RestartSec=100ms, exits 0 at once: the start limit ends the loop.
    "okloop.service": () => {
      let v = startedUnit(service("okloop.service", "always"), T0, next());
      for (let i = 1; i <= 5; i++) v = startedUnit(exitedUnit(v, T0 + i * 100, 0), T0 + i * 100, next(), i);
      return startLimitedUnit(exitedUnit(v, T0 + 600, 0), T0 + 700);
    },
    "cond3.service": () => conditionSkippedUnit(service("cond3.service"), T0),
    "os-fail.service": () => failedRunUnit(service("os-fail.service", "no", true), T0, next(), 4),
    "os-rae.service": () => startedUnit(service("os-rae.service", "no", true, true), T0, next()),
    "tmr.timer": () => startedUnit(loadedUnit("tmr.timer", { oneshot: false, type: "" }), T0, next()),
    "tmr.service": () => failedRunUnit(service("tmr.service", "no", true), T0, next(), 2),
    "tpl@1.service": () => startedUnit(service("tpl@1.service"), T0, next()),
    "hang.service": () => stopHungUnit(startedUnit(service("hang.service"), T0, next()), T0 + 1000, 7),
  };
  for (const [id, life] of Object.entries(lives)) {
    it(id, () => {
      const { fleet, host } = simHost();
      host.units.set(id, life());
      expect(mask(render(fleet, host, `systemctl ${PROBE} ${id}`))).toBe(mask(blocks.get(id) ?? ""));
    });
  }
  it("nope.service (not installed)", () => {
    const { fleet, host } = simHost();
    expect(render(fleet, host, `systemctl ${PROBE} nope.service`)).toBe(blocks.get("nope.service"));
  });
});

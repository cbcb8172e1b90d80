import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseSystemctlShow } from "../../../src/probes/systemd/parse.js";
import type { UnitState } from "../../../src/probes/types.js";

/**
 * The probe's parser against `systemctl show` as real systemd 252 printed it
 * (test/fixtures/golden/systemctl/real, recorded by scripts/record-systemctl-fixtures.ts), and the
 * facts those recordings establish, pinned so a re-recording that changes them is noticed.
 */
const REAL = new URL("../../fixtures/golden/systemctl/real/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, REAL), "utf8");
const meta = (dir: string) => JSON.parse(read(`${dir}/meta.json`)) as { unit: string; units?: string[] };
const probe = (dir: string): UnitState => {
  const { unit } = meta(dir);
  return parseSystemctlShow(read(`${dir}/probe.txt`), [unit])[unit] as UnitState;
};

describe("real systemctl show, read by the probe's parser", () => {
  it.each([
    ["active", "active", "running", "success"],
    ["inactive", "inactive", "dead", "success"],
    ["failed", "failed", "failed", "exit-code"],
    ["crash-loop-start-limit", "failed", "failed", "exit-code"],
    ["start-limit-hit", "failed", "failed", "start-limit-hit"],
    ["oneshot-success", "inactive", "dead", "success"],
    ["oneshot-remain", "active", "exited", "success"],
    ["oneshot-failure", "failed", "failed", "exit-code"],
    ["timer", "active", "waiting", "success"],
    ["timer-service", "inactive", "dead", "success"],
    ["not-found", "inactive", "dead", "success"],
    ["templated", "active", "running", "success"],
    ["condition-skip", "inactive", "dead", "success"],
    ["activating", "activating", "start-pre", "success"],
    ["hung-stop", "deactivating", "stop", "success"],
  ])("%s: %s / %s, Result=%s", (dir, activeState, subState, result) => {
    expect(probe(dir)).toMatchObject({ activeState, subState, result });
  });

  it("a missing unit is LoadState=not-found with an empty Type; a timer has no Type line", () => {
    expect(probe("not-found")).toMatchObject({ loadState: "not-found", type: "" });
    expect(read("timer/probe.txt")).not.toMatch(/^Type=/m);
    expect(probe("timer").type).toBe("");
  });

  it("units that never entered active have no ActiveEnterTimestamp; the others have @seconds", () => {
    for (const dir of ["oneshot-success", "activating", "condition-skip"]) {
      expect(probe(dir).activeEnterTimestamp, dir).toBeUndefined();
    }
    expect(probe("active").activeEnterTimestamp).toBeGreaterThan(Date.UTC(2026, 0, 1));
  });

  it("reads one call for every unit, in the order asked", () => {
    const { units = [] } = meta("all");
    const states = parseSystemctlShow(read("all/probe.txt"), units);
    expect(Object.keys(states)).toEqual(units);
  });

  it("a template name makes systemctl show exit 1 and print only the blocks before it", () => {
    const m = JSON.parse(read("all-with-template/meta.json")) as {
      units: string[];
      exitCode: number;
      stderr: string;
    };
    expect(m.exitCode).toBe(1);
    expect(m.stderr).toContain("is neither a valid invocation ID nor unit name");
    expect(Object.keys(parseSystemctlShow(read("all-with-template/probe.txt")))).toEqual(["active.service"]);
  });
});

describe("real crash loop (Restart=always, RestartSec=3, exits 3 after 2 s)", () => {
  const dir = "crash-loop/snapshots";
  const snapshots = readdirSync(new URL(`${dir}/`, REAL))
    .filter((f) => f.endsWith("-probe.txt"))
    .sort()
    .map(
      (f) =>
        parseSystemctlShow(read(`${dir}/${f}`), ["crash-loop.service"])["crash-loop.service"] as UnitState,
    );

  it("alternates activating (auto-restart) and active (running), never failed, NRestarts climbing", () => {
    expect(snapshots.length).toBeGreaterThanOrEqual(10);
    const states = new Set(snapshots.map((s) => `${s.activeState}/${s.subState}`));
    expect(states).toEqual(new Set(["activating/auto-restart", "active/running"]));
    const restarts = snapshots.map((s) => s.nRestarts);
    for (let i = 1; i < restarts.length; i++)
      expect(restarts[i]).toBeGreaterThanOrEqual(restarts[i - 1] as number);
    expect(Math.max(...restarts) - Math.min(...restarts)).toBeGreaterThanOrEqual(3);
    for (const s of snapshots) {
      expect(s.result).toBe(s.activeState === "activating" ? "exit-code" : "success");
    }
  });
});

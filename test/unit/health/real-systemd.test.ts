import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { UnitCheck } from "../../../src/config/desired.js";
import { judgeUnit } from "../../../src/controller/health.js";
import { SHOW_PROPERTIES } from "../../../src/probes/systemd/command.js";
import { probedUnits } from "../../../src/probes/systemd/companions.js";
import { parseSystemctlShow } from "../../../src/probes/systemd/parse.js";
import type { UnitState } from "../../../src/probes/types.js";

/**
 * Judged from what real systemd 252 (Debian 12, systemd as PID 1 in a container) printed for
 * NixGuard's own probe line (`systemctl show --timestamp=unix --property=<SHOW_PROPERTIES>`), one
 * unit per situation. Unit files: okloop `ExecStart=/bin/true`, `Restart=always`,
 * `RestartSec=100ms`; cond3 `ExecCondition=/bin/sh -c "exit 1"`, wanted by multi-user.target;
 * os-fail a oneshot exiting 4; os-rae a oneshot with RemainAfterExit=yes; tmr.timer starting the
 * oneshot tmr.service, which exits 2; tpl@1 an instance of a template; nope not installed; hang
 * `ExecStop=/bin/sleep infinity`, `TimeoutStopSec=infinity`, during `systemctl restart`.
 */
const UNITS = [
  "okloop.service",
  "cond3.service",
  "os-fail.service",
  "os-rae.service",
  "tmr.timer",
  "tmr.service",
  "tpl@1.service",
  "nope.service",
  "hang.service",
];
const text = readFileSync(
  new URL("../../fixtures/systemctl/show/real-252-situations.txt", import.meta.url),
  "utf8",
);
const facts = parseSystemctlShow(text, UNITS);
const check = (unit: string, oneshot = false): UnitCheck => ({ id: unit, unit, oneshot });
const judge = (unit: string, service?: string) =>
  judgeUnit(check(unit), facts[unit], service === undefined ? undefined : facts[service]);

describe("units as real systemd reports them", () => {
  it("the fixture holds every property the probe asks for", () => {
    const keys = new Set(text.split("\n").map((l) => l.slice(0, l.indexOf("="))));
    for (const p of SHOW_PROPERTIES) expect(keys.has(p), p).toBe(true);
    expect(facts["okloop.service"]).toMatchObject({ execMainCode: 1, execMainStatus: 0, nRestarts: 5 });
    expect(facts["tmr.timer"]).toMatchObject({ triggers: "tmr.service", type: "" });
  });

  it("Result=start-limit-hit fails, saying so", () => {
    expect(judge("okloop.service")).toMatchObject({
      outcome: "fail",
      reason: "failed (failed), start request repeated too quickly (start-limit-hit), 5 restarts",
    });
  });

  it("a unit skipped by its ExecCondition is not a failure", () => {
    expect(judge("cond3.service")).toMatchObject({
      outcome: "pass",
      reason: "inactive (dead), skipped: its ExecCondition did not hold",
    });
    // Condition…= that did not hold, checked: the same. Never checked (a unit loaded afresh): down.
    const base = facts["cond3.service"] as UnitState;
    const condition = { ...base, result: "success", conditionResult: "no" };
    expect(judgeUnit(check("c.service"), condition).outcome).toBe("pass");
    const fresh: UnitState = { ...condition };
    delete fresh.conditionTimestamp;
    expect(judgeUnit(check("c.service"), fresh)).toMatchObject({
      outcome: "fail",
      reason: "inactive (dead)",
    });
  });

  it("oneshots by their last result, with or without RemainAfterExit", () => {
    expect(judge("os-fail.service")).toMatchObject({
      outcome: "fail",
      reason: "failed (failed), exit code 4",
    });
    expect(judge("os-rae.service")).toMatchObject({
      outcome: "pass",
      reason: "active (exited), last run succeeded",
    });
  });

  it("a timer by its own state and its service's last run; restarting the service runs it again", () => {
    expect(judge("tmr.timer", "tmr.service")).toEqual({
      outcome: "fail",
      reason: "active (waiting); last run of tmr.service failed, exit code 2",
      activeState: "active",
      restart: ["tmr.service"],
    });
    const succeeded = { ...(facts["tmr.service"] as UnitState), activeState: "inactive", result: "success" };
    expect(judgeUnit(check("tmr.timer"), facts["tmr.timer"], succeeded)).toMatchObject({
      outcome: "pass",
      reason: "active (waiting), last run of tmr.service succeeded",
    });
    // A timer whose Unit= names another service is judged by its own state only.
    const other = { ...(facts["tmr.timer"] as UnitState), triggers: "else.service" };
    expect(judgeUnit(check("tmr.timer"), other, facts["tmr.service"]).outcome).toBe("pass");
    expect(probedUnits(["a.service", "tmr.timer"])).toEqual(["a.service", "tmr.timer", "tmr.service"]);
    expect(probedUnits(["tmr.service", "tmr.timer"])).toEqual(["tmr.service", "tmr.timer"]);
  });

  it("templated instances, not-found units and a stop that hangs", () => {
    expect(judge("tpl@1.service")).toMatchObject({ outcome: "pass", reason: "active (running)" });
    expect(judge("nope.service")).toMatchObject({ outcome: "fail", missing: true });
    expect(judge("hang.service")).toMatchObject({ outcome: "fail", reason: "deactivating (stop)" });
  });
});

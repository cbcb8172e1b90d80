import { describe, expect, it } from "vitest";
import { CommandError, ProbeError } from "../../../src/errors.js";
import type { HostFacts, Transport, UnitState } from "../../../src/probes/types.js";
import { settleInterruptedSwitch, switchVerdict } from "../../../src/queue/settle-rollback.js";
import { unitState } from "../../helpers/unit-state.js";

const GOOD = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-web-1";
const BAD = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-nixos-system-web-2";
const SWITCH = "nixguard-rollback-0123456789ab.service";

const unit = (id: string, activeState: string, subState: string): UnitState =>
  unitState(id, activeState, { subState });
const facts = (system: string | undefined, ...units: UnitState[]): HostFacts => ({
  units: Object.fromEntries(units.map((u) => [u.id, u])),
  disks: [],
  ...(system ? { currentSystem: system } : {}),
});
const broken = new ProbeError("PROBE_UNREACHABLE", "10.0.0.2: Connection to 10.0.0.2 closed by remote host.");

/** A transport whose probes answer from a script, one step per probe (the last repeats). */
function scripted(steps: (HostFacts | Error)[]): Transport & { probes: number } {
  let i = 0;
  return {
    kind: "ssh",
    canRestart: true,
    probes: 0,
    async fetch() {
      this.probes++;
      const s = steps[Math.min(i++, steps.length - 1)]!;
      if (s instanceof Error) throw s;
      return s;
    },
    async restart() {},
    async close() {},
  } as Transport & { probes: number };
}

const settle = (t: Transport, err: unknown = broken, ms = 5_000) =>
  settleInterruptedSwitch({
    err,
    transport: t,
    units: ["app.service"],
    switchUnit: SWITCH,
    target: GOOD,
    signal: AbortSignal.timeout(ms),
    log: () => undefined,
    pauseMs: 5,
  });

describe("a rollback whose switch lost its connection", () => {
  it("waits out the unreachable moment and the running switch unit, then succeeds on the target system", async () => {
    const t = scripted([
      new ProbeError(
        "PROBE_UNREACHABLE",
        "10.0.0.2: ssh: connect to host 10.0.0.2 port 22: Connection refused",
      ),
      facts(BAD, unit("app.service", "active", "running"), unit(SWITCH, "active", "running")),
      facts(GOOD, unit("app.service", "active", "running")),
    ]);
    const r = await settle(t);
    expect(r).toMatchObject({ outcome: "success" });
    expect(r!.message).toMatch(
      /connection broke.*then on \/nix\/store\/0123.*app\.service active \(running\)/,
    );
    expect(t.probes).toBe(3);
  });

  it("units up but the host still on the broken system: the switch did not happen, failed", async () => {
    const r = await settle(scripted([facts(BAD, unit("app.service", "active", "running"))]));
    expect(r).toMatchObject({ outcome: "failed" });
    expect(r!.message).toContain(`the host runs ${BAD}, not ${GOOD}`);
  });

  it("a unit failed on the target: failed; a host that never answers: unreachable at the deadline", async () => {
    expect(await settle(scripted([facts(GOOD, unit("app.service", "failed", "failed"))]))).toMatchObject({
      outcome: "failed",
    });
    expect(await settle(scripted([broken]), broken, 100)).toMatchObject({ outcome: "unreachable" });
  });

  it("an error that is not an interruption decides as before (undefined): a failure on an answering host", async () => {
    const t = scripted([facts(GOOD, unit("app.service", "active", "running"))]);
    const failed = new CommandError("COMMAND_FAILED", "switch exited 4", {
      argv: ["ssh"],
      exitCode: 4,
      stderrTail: "",
    });
    expect(await settle(t, failed)).toBeUndefined();
    expect(t.probes).toBe(0);
  });

  it("switchVerdict: a system not reported yet is a wait, not a success", () => {
    expect(switchVerdict({ outcome: "success", note: "up" }, facts(undefined), GOOD)).toEqual({
      wait: "current system not reported",
    });
    expect(switchVerdict({ wait: "x" }, facts(GOOD), GOOD)).toEqual({ wait: "x" });
  });
});

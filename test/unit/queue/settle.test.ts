import { describe, expect, it } from "vitest";
import { CommandError, ProbeError } from "../../../src/errors.js";
import type { HostFacts, UnitState } from "../../../src/probes/types.js";
import {
  applyInterruption,
  restartInterruption,
  SWITCH_UNIT,
  settleVerdict,
  unsettledOutcome,
} from "../../../src/queue/settle.js";
import { settleByProbe } from "../../../src/queue/settle-probe.js";

const unit = (
  id: string,
  activeState: string,
  subState: string,
  more: Partial<UnitState> = {},
): UnitState => ({
  id,
  loadState: "loaded",
  activeState,
  subState,
  result: "success",
  nRestarts: 0,
  type: "simple",
  ...more,
});
const facts = (...units: UnitState[]): HostFacts => ({
  units: Object.fromEntries(units.map((u) => [u.id, u])),
  disks: [],
});
const failed = (stderrTail: string, exitCode = 1) =>
  new CommandError("COMMAND_FAILED", "10.0.0.2: systemctl restart app.service exited 1", {
    argv: ["ssh"],
    exitCode,
    stderrTail,
  });

describe("an interrupted restart: what the error says", () => {
  it("a connection that broke mid-command, or a job systemd canceled for a reboot, is an interruption", () => {
    expect(
      restartInterruption(
        new ProbeError("PROBE_UNREACHABLE", "10.0.0.2: Connection to 10.0.0.2 closed by remote host."),
      ),
    ).toMatch(/^the connection broke/);
    expect(restartInterruption(failed("Job for app.service canceled.\n"))).toMatch(
      /canceled the restart job/,
    );
  });

  it("a restart that failed on an answering host, ssh that never connected, a refused host key are not", () => {
    expect(
      restartInterruption(
        failed("Job for app.service failed because the control process exited with error code."),
      ),
    ).toBeUndefined();
    expect(
      restartInterruption(
        new ProbeError(
          "PROBE_UNREACHABLE",
          "10.0.0.2: ssh: connect to host 10.0.0.2 port 22: Connection refused",
        ),
      ),
    ).toBeUndefined();
    expect(
      restartInterruption(
        new ProbeError("PROBE_UNREACHABLE", "10.0.0.2: ssh authentication failed: Permission denied"),
      ),
    ).toBeUndefined();
    expect(restartInterruption(new ProbeError("HOST_KEY_MISMATCH", "10.0.0.2: host key"))).toBeUndefined();
    expect(restartInterruption(new Error("boom"))).toBeUndefined();
  });

  it("an apply whose machine ssh exited 255 or lost its connection is an interruption; a unit left failed is not", () => {
    expect(
      applyInterruption(
        "nixops4 error: Failed to create stateless resource edge.web1; caused by: Local resource process failed with exit code: 255",
        "",
      ),
    ).toMatch(/exit 255/);
    expect(applyInterruption("nixops4 error: x", "Connection to 10.0.0.2 closed by remote host.\n")).toMatch(
      /closed by remote host/,
    );
    expect(
      applyInterruption(
        "nixops4 error: Failed to create stateless resource web1; caused by: Local resource process failed with exit code: 4",
        "warning: the following units failed: broken.service",
      ),
    ).toBeUndefined();
  });
});

describe("an interrupted action, decided by a fresh observation", () => {
  it("unreachable is that moment's state: wait", () => {
    expect(settleVerdict(["app.service"], undefined)).toEqual({ wait: "host unreachable" });
  });

  it("a host shutting down shows units stopping or stopped cleanly: wait, not failed", () => {
    expect(settleVerdict(["app.service"], facts(unit("app.service", "deactivating", "stop")))).toHaveProperty(
      "wait",
    );
    expect(settleVerdict(["app.service"], facts(unit("app.service", "inactive", "dead")))).toHaveProperty(
      "wait",
    );
    expect(settleVerdict(["app.service"], facts(unit("app.service", "activating", "start")))).toHaveProperty(
      "wait",
    );
  });

  it("every unit up after it came back: success", () => {
    const v = settleVerdict(
      ["app.service", "job.service"],
      facts(
        unit("app.service", "active", "running"),
        unit("job.service", "inactive", "dead", { type: "oneshot" }),
      ),
    );
    expect(v).toEqual({
      outcome: "success",
      note: "app.service active (running), job.service inactive (dead), last run succeeded",
    });
  });

  it("a unit down for good: failed, naming it", () => {
    expect(
      settleVerdict(["app.service"], facts(unit("app.service", "failed", "failed", { result: "exit-code" }))),
    ).toEqual({ outcome: "failed", note: "app.service failed (failed)" });
    expect(
      settleVerdict(
        ["app.service"],
        facts(unit("app.service", "activating", "auto-restart", { result: "exit-code" })),
      ),
    ).toEqual({ outcome: "failed", note: "app.service activating (auto-restart)" });
    expect(
      settleVerdict(
        ["app.service"],
        facts(unit("app.service", "inactive", "dead", { loadState: "not-found" })),
      ),
    ).toEqual({
      outcome: "failed",
      note: "app.service not-found",
    });
  });

  it("a switch still running in its transient unit: wait until it is gone", () => {
    const app = unit("app.service", "active", "running");
    expect(
      settleVerdict(["app.service"], facts(app, unit(SWITCH_UNIT, "active", "running")), [SWITCH_UNIT]),
    ).toEqual({
      wait: `${SWITCH_UNIT} active (running)`,
    });
    // Collected (--collect): systemd reports it not-found.
    const gone = unit(SWITCH_UNIT, "inactive", "dead", { loadState: "not-found" });
    expect(settleVerdict(["app.service"], facts(app, gone), [SWITCH_UNIT])).toMatchObject({
      outcome: "success",
    });
  });

  it("not settled by the deadline: unreachable when the host never answered, else timeout", () => {
    expect(unsettledOutcome(undefined)).toBe("unreachable");
    expect(unsettledOutcome({ wait: "host unreachable" })).toBe("unreachable");
    expect(unsettledOutcome({ wait: "app.service deactivating (stop)" })).toBe("timeout");
  });
});

describe("settleByProbe", () => {
  it("probes through unreachable and stopping until the host answers with the unit up", async () => {
    const answers: (HostFacts | Error)[] = [
      facts(unit("app.service", "deactivating", "stop")),
      new ProbeError("PROBE_UNREACHABLE", "Connection refused"),
      facts(unit("app.service", "active", "running")),
    ];
    const seen: string[] = [];
    const v = await settleByProbe({
      fetch: async () => {
        const a = answers.shift() as HostFacts | Error;
        if (a instanceof Error) throw a;
        return a;
      },
      units: ["app.service"],
      signal: AbortSignal.timeout(5_000),
      pauseMs: 1,
      onStep: (s) => seen.push("wait" in s ? s.wait : s.outcome),
    });
    expect(v).toMatchObject({ outcome: "success" });
    expect(seen).toEqual(["app.service deactivating (stop)", "host unreachable", "success"]);
  });

  it("ends with the last wait when its signal ends it", async () => {
    const v = await settleByProbe({
      fetch: async () => {
        throw new ProbeError("PROBE_UNREACHABLE", "Connection refused");
      },
      units: ["app.service"],
      signal: AbortSignal.timeout(50),
      pauseMs: 5,
    });
    expect(v).toEqual({ wait: "host unreachable" });
  });
});

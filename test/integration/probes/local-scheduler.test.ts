import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { silentLogger } from "../../../src/log.js";
import { createMetrics } from "../../../src/metrics.js";
import { ProbeScheduler } from "../../../src/probes/scheduler.js";
import { LocalTransport } from "../../../src/probes/transports/local.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";
import type { HostObservation } from "../../../src/probes/types.js";
import { descendants, FAKE_BIN, killHung, unitBlock } from "../../helpers/sshd.js";
import { alive } from "./procs.js";

let fixture: string;
let env: Record<string, string>;

const write = (path: string, text: string) => writeFileSync(join(fixture, path), text);
const setUnit = (name: string, props: Record<string, string>) =>
  write(
    `units/${name}`,
    Object.entries(props)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );

beforeEach(() => {
  fixture = mkdtempSync(join(tmpdir(), "nixguard-local-"));
  mkdirSync(join(fixture, "units"));
  env = { PATH: `${FAKE_BIN}:/usr/bin:/bin`, NIXGUARD_FIXTURE: fixture };
});

afterEach(() => {
  killHung(fixture);
  rmSync(fixture, { recursive: true, force: true });
});

const host = (name: string): HostSpec => ({
  deployment: "d",
  name,
  address: "localhost",
  target: "d",
  ownTarget: false,
  services: [],
  transport: { kind: "local" },
  units: [
    { id: "garage.service", unit: "garage.service", oneshot: false },
    { id: "gone.service", unit: "gone.service", oneshot: false },
  ],
  http: [],
});

describe("local transport", () => {
  it("runs the probe line through sh with the fake remote programs", async () => {
    setUnit("garage.service", unitBlock("garage.service", { ActiveState: "activating", SubState: "start" }));
    const facts = await new LocalTransport({ env }).fetch(
      ["garage.service", "gone.service"],
      AbortSignal.timeout(5000),
    );
    expect(facts.units["garage.service"]).toMatchObject({ activeState: "activating", subState: "start" });
    expect(facts.units["gone.service"]).toMatchObject({ loadState: "not-found" });
    expect(facts.cpus).toBeGreaterThan(0);
  });

  it("restarts through systemctl argv", async () => {
    setUnit("garage.service", unitBlock("garage.service"));
    const t = new LocalTransport({ env });
    await t.restart(["garage.service"], AbortSignal.timeout(5000));
    expect(readFileSync(join(fixture, "restarted"), "utf8")).toBe("garage.service\n");
    await expect(t.restart(["gone.service"], AbortSignal.timeout(5000))).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      exitCode: 5,
    });
  });
});

describe("scheduler with real child processes", () => {
  it("a timed-out probe kills its shell and everything it started; stop leaves no handles", async () => {
    const handles = () =>
      process
        .getActiveResourcesInfo()
        .filter((r) => ["ChildProcess", "Pipe", "PipeWrap", "ProcessWrap", "TCPWrap"].includes(r)).length;
    const before = handles();
    write("hang", "");
    const observations: HostObservation[] = [];
    const transports = new TransportRegistry(() => new LocalTransport({ env }));
    const s = new ProbeScheduler({
      desired: { deployments: [{ name: "d", flake: "/srv/d", target: "d", hosts: [host("h")] }] },
      borrow: (h) => transports.borrow(h),
      metrics: createMetrics({ version: "t", processMetrics: false }),
      logger: silentLogger(),
      intervalMs: 60_000,
      jitter: 0,
      timeoutMs: 400,
      concurrency: 4,
      onObservation: (_, o) => observations.push(o),
    });
    try {
      const t0 = Date.now();
      const o = await s.probeNow("d", "h");
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(o).toMatchObject({ reachable: false, error: { code: "PROBE_TIMEOUT" } });
      expect(o.error!.message).toBe("d/h: no answer after 400 ms");
      expect(observations).toHaveLength(1);
      // The fake systemctl did start (and hang) ...
      const hung = readFileSync(join(fixture, "hung-pids"), "utf8").trim().split("\n").map(Number);
      expect(hung.length).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      // ... and it, its shell and everything else we started are gone.
      expect(descendants(process.pid).filter((p) => p === hung[0])).toEqual([]);
      expect(alive(hung[0]!)).toBe(false);
      expect(descendants(process.pid).length).toBe(0);
    } finally {
      await s.stop();
    }
    expect(handles()).toBeLessThanOrEqual(before);
  });
});

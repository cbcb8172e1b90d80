import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { HostSpec } from "../../../src/config/desired.js";
import { parseConfig } from "../../../src/config/load.js";
import { probeHttp } from "../../../src/probes/http/probe.js";
import { createTransport } from "../../../src/probes/transports/index.js";
import type { SshTransport } from "../../../src/probes/transports/ssh.js";
import { type SimBin, writeSimBin } from "../../../src/sim/bin.js";
import { simConfig } from "../../../src/sim/config.js";
import { SimControlClient } from "../../../src/sim/control-client.js";
import { simLayout } from "../../../src/sim/layout.js";
import { type SimServer, startSimulation } from "../../../src/sim/server.js";

/**
 * NixGuard's own probes — ssh transport (command construction, argv, parsers), exporter
 * transport and HTTP probe — run unchanged against the simulator; only `ssh` is the fake.
 */
let sim: SimServer;
let bin: SimBin;
let dir: string;
let control: SimControlClient;
let hosts: (transport: "ssh" | "exporter") => HostSpec[];

beforeAll(async () => {
  sim = await startSimulation(simLayout("fediversity"));
  dir = mkdtempSync(join(tmpdir(), "nixguard-sim-probes-"));
  bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
  control = new SimControlClient(sim.url);
  hosts = (transport) => {
    const cfg = simConfig({
      hosts: "fediversity",
      transport,
      simUrl: sim.url,
      sshCommand: bin.ssh,
      nixops4Command: bin.nixops4,
      flakeDir: join(dir, "flake"),
    });
    return parseConfig(cfg).desired.deployments.flatMap((d) => d.hosts);
  };
});

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => control.healAll());

const host = (list: HostSpec[], name: string) => list.find((h) => h.name === name) as HostSpec;
const signal = () => AbortSignal.timeout(10_000);

describe("production ssh transport against the fake ssh", () => {
  it("fetches units, current system, disks, load and cpus", async () => {
    const mastodon = host(hosts("ssh"), "mastodon");
    const t = createTransport(mastodon, { runtimeDir: join(dir, "run") });
    try {
      const facts = await t.fetch(
        mastodon.units.map((u) => u.unit),
        signal(),
      );
      expect(Object.keys(facts.units).sort()).toEqual(mastodon.units.map((u) => u.unit).sort());
      expect(facts.units["mastodon-web.service"]).toMatchObject({
        loadState: "loaded",
        activeState: "active",
        subState: "running",
        result: "success",
        nRestarts: 0,
        type: "simple",
        activeEnterTimestamp: Date.UTC(2026, 10, 23, 10, 0, 0),
      });
      expect(facts.units["mastodon-init-db.service"]).toMatchObject({
        type: "oneshot",
        activeState: "inactive",
      });
      expect(facts.currentSystem).toBe((await control.host("mastodon")).desiredSystem);
      expect(facts.disks.map((d) => d.mount)).toContain("/");
      expect(facts.load).toEqual([0.15, 0.2, 0.1]);
      expect(facts.cpus).toBe(4);
    } finally {
      await t.close();
    }
  });

  it("sees injected faults and restarts through systemctl", async () => {
    const mastodon = host(hosts("ssh"), "mastodon");
    const t = createTransport(mastodon, { runtimeDir: join(dir, "run") });
    try {
      await control.inject({ kind: "unit-fail", host: "mastodon", unit: "mastodon-sidekiq-all.service" });
      await control.inject({ kind: "unit-missing", host: "mastodon", unit: "redis-mastodon.service" });
      await control.inject({ kind: "drift", host: "mastodon" });
      const facts = await t.fetch(["mastodon-sidekiq-all.service", "redis-mastodon.service"], signal());
      expect(facts.units["mastodon-sidekiq-all.service"]).toMatchObject({
        activeState: "failed",
        result: "exit-code",
      });
      expect(facts.units["redis-mastodon.service"]?.loadState).toBe("not-found");
      expect(facts.currentSystem).not.toBe((await control.host("mastodon")).desiredSystem);

      await t.restart(["mastodon-sidekiq-all.service"], signal());
      const after = await t.fetch(["mastodon-sidekiq-all.service"], signal());
      expect(after.units["mastodon-sidekiq-all.service"]?.activeState).toBe("active");
      await expect(t.restart(["redis-mastodon.service"], signal())).rejects.toMatchObject({
        code: "COMMAND_FAILED",
      });
    } finally {
      await t.close();
    }
  });

  it("works over one persistent session too: faults, a restart, and a unit back up, one fake ssh throughout", async () => {
    const mastodon = host(hosts("ssh"), "mastodon");
    // simConfig pins per-probe for the fault suite (src/sim/config.ts); the fake ssh itself serves a
    // long-lived `ssh HOST sh` as well: its relay execs the remote sh, whose fakes ask the simulator.
    const spec = { ...mastodon, transport: { ...mastodon.transport, session: "persistent" as const } };
    const t = createTransport(spec, { runtimeDir: join(dir, "run") });
    const unit = "mastodon-sidekiq-all.service";
    try {
      expect((await t.fetch([unit], signal())).units[unit]?.activeState).toBe("active");
      const pids = (t as SshTransport).sessionPids();
      expect(pids).toHaveLength(1);
      await control.inject({ kind: "unit-fail", host: "mastodon", unit });
      expect((await t.fetch([unit], signal())).units[unit]).toMatchObject({ activeState: "failed" });
      await t.restart([unit], signal());
      expect((await t.fetch([unit], signal())).units[unit]?.activeState).toBe("active");
      expect((t as SshTransport).sessionPids()).toEqual(pids);
    } finally {
      await t.close();
    }
  });

  it("reports an unreachable host as a probe error, not as failed units", async () => {
    await control.inject({ kind: "unreachable", host: "peertube", delayMs: 100 });
    const peertube = host(hosts("ssh"), "peertube");
    const t = createTransport(peertube, { runtimeDir: join(dir, "run") });
    try {
      await expect(t.fetch(["peertube.service"], signal())).rejects.toMatchObject({
        code: "PROBE_UNREACHABLE",
      });
    } finally {
      await t.close();
    }
  });
});

describe("production exporter transport and HTTP probe against the simulator", () => {
  it("reads unit states from /exporter/<host>/metrics", async () => {
    await control.inject({ kind: "unit-fail", host: "pixelfed", unit: "pixelfed-horizon.service" });
    const pixelfed = host(hosts("exporter"), "pixelfed");
    const t = createTransport(pixelfed, { runtimeDir: join(dir, "run") });
    try {
      const facts = await t.fetch(
        pixelfed.units.map((u) => u.unit),
        signal(),
      );
      expect(facts.units["pixelfed-horizon.service"]?.activeState).toBe("failed");
      expect(facts.units["phpfpm-pixelfed.service"]?.activeState).toBe("active");
    } finally {
      await t.close();
    }
  });

  it("probes every catalog HTTP check of the four hosts, and sees a 502", async () => {
    const all = hosts("ssh");
    for (const h of all)
      for (const check of h.http) {
        const r = await probeHttp(check, signal());
        expect({ check: check.id, ok: r.ok, status: r.status }).toEqual({
          check: check.id,
          ok: true,
          status: 200,
        });
      }
    await control.inject({ kind: "unit-stop", host: "peertube", unit: "peertube.service" });
    const ping = host(all, "peertube").http[0]!;
    const r = await probeHttp(ping, signal());
    expect([r.ok, r.status]).toEqual([false, 502]);
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SshTransport } from "../../../src/probes/transports/ssh.js";
import type { Transport } from "../../../src/probes/types.js";
import { freePort } from "../../helpers/redis.js";
import { childrenNamed, startSshd, type TestSshd, unitBlock } from "../../helpers/sshd.js";

const STORE = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-mastodon-25.11";

let sshd: TestSshd;
let runtimeDir: string;
const open: Transport[] = [];

function transport(overrides: Parameters<TestSshd["spec"]>[0] = {}, dir = runtimeDir): SshTransport {
  const t = new SshTransport(sshd.spec(overrides), { runtimeDir: dir });
  open.push(t);
  return t;
}

const signal = (ms = 10_000) => AbortSignal.timeout(ms);

beforeAll(async () => {
  sshd = await startSshd();
  runtimeDir = mkdtempSync("/tmp/ngrun-");
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  sshd.setHang(false);
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(runtimeDir, { recursive: true, force: true });
});

describe("ssh transport against a real sshd", () => {
  it("fetches units, current system, disks, load and CPUs in one call", async () => {
    sshd.setUnit("mastodon-web.service", unitBlock("mastodon-web.service"));
    writeFileSync(join(sshd.fixtureDir, "current-system"), `${STORE}\n`);
    const facts = await transport().fetch(["mastodon-web.service", "extra.service"], signal());
    expect(facts.units["mastodon-web.service"]).toMatchObject({ activeState: "active", subState: "running" });
    expect(facts.units["extra.service"]).toMatchObject({ loadState: "not-found" });
    expect(facts.currentSystem).toBe(STORE);
    expect(facts.disks.length).toBeGreaterThan(0);
    expect(facts.load).toHaveLength(3);
    expect(facts.cpus).toBeGreaterThan(0);
    // The remote got the unit names as separate, quoted words.
    const calls = readFileSync(join(sshd.fixtureDir, "calls"), "utf8");
    expect(calls).toContain("show --timestamp=unix --property=Id,LoadState");
    expect(calls).toContain("mastodon-web.service extra.service");
  });

  it("sees states flip between probes, over one reused connection", async () => {
    const t = transport();
    sshd.setUnit("garage.service", unitBlock("garage.service"));
    expect((await t.fetch(["garage.service"], signal())).units["garage.service"]!.activeState).toBe("active");
    const before = sshd.acceptedConnections();
    sshd.setUnit(
      "garage.service",
      unitBlock("garage.service", { ActiveState: "failed", SubState: "failed", Result: "exit-code" }),
    );
    const second = await t.fetch(["garage.service"], signal());
    expect(second.units["garage.service"]).toMatchObject({ activeState: "failed", result: "exit-code" });
    sshd.removeUnit("garage.service");
    const third = await t.fetch(["garage.service"], signal());
    expect(third.units["garage.service"]!.loadState).toBe("not-found");
    // Connection reuse: the second and third probe opened no new TCP connection.
    expect(sshd.acceptedConnections()).toBe(before);
  });

  it("restarts units, and reports a failed restart with the remote stderr", async () => {
    const t = transport();
    sshd.setUnit("peertube.service", unitBlock("peertube.service"));
    await t.restart(["peertube.service"], signal());
    expect(readFileSync(join(sshd.fixtureDir, "restarted"), "utf8")).toContain("peertube.service");
    await expect(t.restart(["nope.service"], signal())).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      exitCode: 5,
      stderrTail: expect.stringContaining("Unit nope.service not found"),
    });
  });

  it("refuses a host whose key does not match known_hosts", async () => {
    const dir = mkdtempSync("/tmp/ngrun-");
    try {
      const t = transport({ knownHostsFile: sshd.wrongKnownHostsFile }, dir);
      await expect(t.fetch(["a.service"], signal())).rejects.toMatchObject({
        code: "HOST_KEY_MISMATCH",
        message: expect.stringContaining("does not match known_hosts"),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a host missing from known_hosts (never trust on first use)", async () => {
    const dir = mkdtempSync("/tmp/ngrun-");
    const empty = join(dir, "known_hosts");
    writeFileSync(empty, "");
    try {
      const t = transport({ knownHostsFile: empty }, dir);
      await expect(t.fetch(["a.service"], signal())).rejects.toMatchObject({ code: "HOST_KEY_MISMATCH" });
      expect(readFileSync(empty, "utf8")).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a closed port as unreachable", async () => {
    const port = await freePort();
    const t = transport({ port });
    await expect(t.fetch(["a.service"], signal())).rejects.toMatchObject({
      code: "PROBE_UNREACHABLE",
      message: expect.stringContaining("Connection refused"),
    });
  });

  it("kills the ssh child when a hung remote times out", async () => {
    const t = transport();
    await t.fetch([], signal()); // master up, so the hang is in the command, not the handshake
    sshd.setHang(true);
    const started = Date.now();
    await expect(t.fetch(["a.service"], AbortSignal.timeout(700))).rejects.toMatchObject({
      code: "PROBE_TIMEOUT",
    });
    expect(Date.now() - started).toBeLessThan(3000);
    // The ControlPersist master is a daemon (not our child); the per-probe ssh must be gone.
    expect(childrenNamed(process.pid, "ssh")).toEqual([]);
    sshd.setHang(false);
    const facts = await t.fetch([], signal());
    expect(facts.load).toHaveLength(3);
  });

  it("kills the ssh child when the very first connection times out", async () => {
    sshd.setHang(true);
    const dir = mkdtempSync("/tmp/ngrun-");
    try {
      const t = transport({}, dir);
      await expect(t.fetch(["a.service"], AbortSignal.timeout(1500))).rejects.toMatchObject({
        code: "PROBE_TIMEOUT",
      });
      expect(childrenNamed(process.pid, "ssh")).toEqual([]);
      await t.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SshTransport } from "../../../src/probes/transports/ssh.js";
import { HOSTILE_VALUES } from "../../helpers/hostile.js";
import {
  childrenNamed,
  descendants,
  killHung,
  startSshd,
  type TestSshd,
  unitBlock,
} from "../../helpers/sshd.js";
import { alive } from "./procs.js";

/** The ssh transport with `session: "persistent"`, against a real sshd (test/helpers/sshd.ts). */

const STORE = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-mastodon-25.11";
const TIMEOUT = 10_000;

let sshd: TestSshd;
let runtimeDir: string;
const open: SshTransport[] = [];

function transport(overrides: Parameters<TestSshd["spec"]>[0] = {}): SshTransport {
  const t = new SshTransport(sshd.spec({ session: "persistent", ...overrides }), { runtimeDir });
  open.push(t);
  return t;
}

const signal = (ms = TIMEOUT) => AbortSignal.timeout(ms);

/** Polls until `done` (a killed process is reaped asynchronously), up to the probe timeout. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sshChildren = () => childrenNamed(process.pid, "ssh");

beforeAll(async () => {
  sshd = await startSshd();
  runtimeDir = mkdtempSync("/tmp/ngrun-");
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  sshd.setHang(false);
  killHung(sshd.fixtureDir);
  // Every session's ssh client is gone once its transport is closed.
  await until(() => sshChildren().length === 0, "ssh clients to exit");
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(runtimeDir, { recursive: true, force: true });
});

describe("ssh transport with a persistent session", () => {
  it("probes over one ssh process and one TCP connection, seeing states flip", async () => {
    sshd.setUnit("mastodon-web.service", unitBlock("mastodon-web.service"));
    writeFileSync(join(sshd.fixtureDir, "current-system"), `${STORE}\n`);
    const t = transport();
    const before = sshd.acceptedConnections();
    const facts = await t.fetch(["mastodon-web.service", "extra.service"], signal());
    expect(facts.units["mastodon-web.service"]).toMatchObject({ activeState: "active", subState: "running" });
    expect(facts.units["extra.service"]).toMatchObject({ loadState: "not-found" });
    expect(facts.currentSystem).toBe(STORE);
    expect(facts.disks.length).toBeGreaterThan(0);
    expect(facts.load).toHaveLength(3);
    const [pid] = t.sessionPids();
    expect(pid).toBeDefined();
    sshd.setUnit(
      "mastodon-web.service",
      unitBlock("mastodon-web.service", { ActiveState: "failed", SubState: "failed", Result: "exit-code" }),
    );
    const second = await t.fetch(["mastodon-web.service"], signal());
    expect(second.units["mastodon-web.service"]).toMatchObject({
      activeState: "failed",
      result: "exit-code",
    });
    // No process per probe: the same ssh client, no ControlMaster socket, one TCP connection.
    expect(t.sessionPids()).toEqual([pid]);
    expect(sshChildren()).toEqual([pid]);
    expect(sshd.acceptedConnections() - before).toBe(1);
    expect(readFileSync(join(sshd.fixtureDir, "calls"), "utf8")).toContain(
      "mastodon-web.service extra.service",
    );
  });

  it("restarts units, and reports a failed restart with its exit status and stderr", async () => {
    const t = transport();
    sshd.setUnit("peertube.service", unitBlock("peertube.service"));
    await t.restart(["peertube.service"], signal());
    expect(readFileSync(join(sshd.fixtureDir, "restarted"), "utf8")).toContain("peertube.service");
    await expect(t.restart(["nope.service"], signal())).rejects.toMatchObject({
      code: "COMMAND_FAILED",
      exitCode: 5,
      stderrTail: expect.stringContaining("Unit nope.service not found"),
    });
    // A failed command does not end the session.
    const [pid] = t.sessionPids();
    await t.fetch([], signal());
    expect(t.sessionPids()).toEqual([pid]);
  });

  it("reconnects when the session's ssh client is killed", async () => {
    const t = transport();
    await t.fetch([], signal());
    const [first] = t.sessionPids();
    process.kill(first!, "SIGKILL");
    await until(() => !alive(first!), "the killed ssh client to exit");
    const facts = await t.fetch([], signal());
    expect(facts.load).toHaveLength(3);
    expect(t.sessionPids()).toHaveLength(1);
    expect(t.sessionPids()[0]).not.toBe(first);
  });

  it("reconnects when the server side drops the connection", async () => {
    const t = transport();
    await t.fetch([], signal());
    const [first] = t.sessionPids();
    // sshd's per-connection processes: the listener's descendants. Killing them cuts the session.
    for (const p of descendants(sshd.pid).reverse()) process.kill(p, "SIGKILL");
    const facts = await t.fetch([], signal());
    expect(facts.load).toHaveLength(3);
    expect(t.sessionPids()[0]).not.toBe(first);
  });

  it("times out a hung request, kills its session, and starts a new one for the next", async () => {
    const t = transport();
    await t.fetch([], signal()); // session up, so the hang is in the command, not the handshake
    const [first] = t.sessionPids();
    sshd.setHang(true);
    const started = Date.now();
    await expect(t.fetch(["a.service"], AbortSignal.timeout(700))).rejects.toMatchObject({
      code: "PROBE_TIMEOUT",
    });
    expect(Date.now() - started).toBeLessThan(3000);
    await until(() => !alive(first!), "the timed-out session's ssh to exit");
    expect(t.sessionPids()).toEqual([]);
    sshd.setHang(false);
    const facts = await t.fetch([], signal());
    expect(facts.load).toHaveLength(3);
    expect(t.sessionPids()[0]).not.toBe(first);
  });

  it("runs a restart beside a hung probe on a session of its own", async () => {
    const t = transport();
    await t.fetch([], signal());
    sshd.setHang(true);
    const hung = t.fetch(["a.service"], AbortSignal.timeout(3000));
    const hungResult = expect(hung).rejects.toMatchObject({ code: "PROBE_TIMEOUT" });
    await until(() => existsSync(join(sshd.fixtureDir, "hung-pids")), "the probe to hang");
    sshd.setHang(false);
    sshd.setUnit("garage.service", unitBlock("garage.service"));
    await t.restart(["garage.service"], signal());
    expect(readFileSync(join(sshd.fixtureDir, "restarted"), "utf8")).toContain("garage.service");
    expect(t.sessionPids()).toHaveLength(2);
    await hungResult;
  });

  it("refuses a host whose key does not match known_hosts, and one missing from it", async () => {
    await expect(
      transport({ knownHostsFile: sshd.wrongKnownHostsFile }).fetch(["a.service"], signal()),
    ).rejects.toMatchObject({
      code: "HOST_KEY_MISMATCH",
      message: expect.stringContaining("does not match"),
    });
    const dir = mkdtempSync("/tmp/ngrun-");
    try {
      const empty = join(dir, "known_hosts");
      writeFileSync(empty, "");
      await expect(transport({ knownHostsFile: empty }).fetch(["a.service"], signal())).rejects.toMatchObject(
        {
          code: "HOST_KEY_MISMATCH",
        },
      );
      expect(readFileSync(empty, "utf8")).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never sends a hostile unit name to the remote shell", async () => {
    const t = transport();
    await t.fetch([], signal());
    const calls = join(sshd.fixtureDir, "calls");
    const before = readFileSync(calls, "utf8");
    for (const bad of HOSTILE_VALUES) {
      await expect(t.fetch([bad], signal())).rejects.toMatchObject({ code: "UNSAFE_VALUE" });
      await expect(t.restart([bad], signal())).rejects.toMatchObject({ code: "UNSAFE_VALUE" });
    }
    // Refused before anything was written to the session: no new remote call, session intact.
    expect(readFileSync(calls, "utf8")).toBe(before);
    expect((await t.fetch([], signal())).load).toHaveLength(3);
  });
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DesiredState, HostSpec } from "../../../src/config/desired.js";
import { TransportRegistry } from "../../../src/probes/transports/registry.js";
import { controlPathFor, type SshSpec, SshTransport, sshArgs } from "../../../src/probes/transports/ssh.js";
import { waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { childrenNamed, killHung, startSshd, type TestSshd, unitBlock } from "../../helpers/sshd.js";
import { makeRig, type Rig } from "./harness.js";

/**
 * remediation.restartTimeout with the real queue and worker, over NixGuard's ssh transport to a
 * real sshd: host a's systemctl hangs (as `systemctl restart` of a unit whose stop hangs does),
 * host b's answers. A hung restart holds its worker slot no longer than the timeout.
 */
const TIMEOUT_MS = 1_500;

let redis: TestRedis;
let a: TestSshd;
let b: TestSshd;
let runtimeDir: string;
let rig: Rig | undefined;
let transports: TransportRegistry | undefined;
let lent: ReturnType<TransportRegistry["borrow"]> | undefined;

beforeAll(async () => {
  [redis, a, b] = await Promise.all([startRedis(), startSshd(), startSshd()]);
  runtimeDir = mkdtempSync("/tmp/ngrt-");
  a.setUnit("hang.service", unitBlock("hang.service"));
  b.setUnit("app.service", unitBlock("app.service"));
});
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  lent?.release();
  lent = undefined;
  await transports?.close();
  transports = undefined;
  a.setHang(false);
  killHung(a.fixtureDir);
  rmSync(join(b.fixtureDir, "restarted"), { force: true });
});
afterAll(async () => {
  await Promise.all([a.stop(), b.stop(), redis.stop()]);
  rmSync(runtimeDir, { recursive: true, force: true });
});

type Session = SshSpec["session"];
const host = (deployment: string, sshd: TestSshd, session: Session): HostSpec => ({
  deployment,
  name: deployment,
  address: "127.0.0.1",
  target: deployment,
  ownTarget: false,
  services: [],
  transport: sshd.spec(session ? { session } : {}),
  units: [],
  http: [],
});
// Two deployments: a hung restart must not hold up another deployment's work.
const state = (session: Session): DesiredState => ({
  deployments: [
    { name: "a", flake: "/nonexistent", target: "a", hosts: [host("a", a, session)] },
    { name: "b", flake: "/nonexistent", target: "b", hosts: [host("b", b, session)] },
  ],
});
const restartOf = (deployment: string, unit: string) => ({
  action: { kind: "restart" as const, deployment, host: deployment, units: [unit] },
  actor: "controller",
  reason: `${unit} failing`,
});

async function start(concurrency: number, session?: Session) {
  const desired = state(session);
  rig = await makeRig(redis.url, () => desired);
  const registry = new TransportRegistry((h) => new SshTransport(h.transport as SshSpec, { runtimeDir }));
  transports = registry;
  // Borrowed for the whole test: the persistent test probes through the worker's own transport.
  lent = registry.borrow(desired.deployments[0]!.hosts[0]!);
  await rig.startWorker({
    concurrency,
    borrow: (h) => registry.borrow(h),
    restartTimeoutMs: () => TIMEOUT_MS,
  });
  return rig;
}

/** `ssh -O check`: is the shared connection (ControlMaster) to this sshd still up? */
function masterUp(sshd: TestSshd): boolean {
  const spec = sshd.spec();
  const args = sshArgs(spec, controlPathFor(spec, runtimeDir, spec.command));
  try {
    execFileSync("ssh", [...args, "-O", "check", "--", spec.address], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const restarted = (sshd: TestSshd) => {
  const f = join(sshd.fixtureDir, "restarted");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
};
// Generous bound derived from the timeout: job pickup, ssh connection set-up, the outcome's writes.
const WITHIN = 4 * TIMEOUT_MS + 10_000;

/** One worker slot: a's restart hangs until the timeout, then b's goes through. */
async function hungThenOther(concurrency: number, session?: Session): Promise<Rig> {
  const r = await start(concurrency, session);
  a.setHang(true);
  await r.queue.enqueue(restartOf("a", "hang.service"));
  await r.queue.enqueue(restartOf("b", "app.service"));
  expect(await waitFor(() => r.outcomes.length >= 2, WITHIN)).toBe(true);
  const [first, second] = r.outcomes;
  expect(first).toMatchObject({ key: "restart__a__a", outcome: "timeout" });
  expect(first!.message).toContain("did not finish within 1500ms (remediation.restartTimeout)");
  expect(first!.finishedAt - first!.startedAt).toBeGreaterThanOrEqual(TIMEOUT_MS);
  expect(second).toMatchObject({ key: "restart__b__b", outcome: "success" });
  expect(restarted(b)).toEqual(["app.service"]);
  return r;
}

describe("restart deadline (remediation.restartTimeout)", () => {
  it("a hung restart ends as timeout, its ssh client gone, and frees the only worker slot for another deployment", async () => {
    const r = await hungThenOther(1);
    // The hung session's ssh client was ended with it: no ssh child of this process is left...
    expect(childrenNamed(process.pid, "ssh")).toEqual([]);
    // ...but not the shared master (no `ssh -O exit`): the next probe of a reuses it.
    expect(masterUp(a)).toBe(true);
    const connections = a.acceptedConnections();
    a.setHang(false);
    const facts = await new SshTransport(a.spec(), { runtimeDir }).fetch(
      ["hang.service"],
      AbortSignal.timeout(10_000),
    );
    expect(facts.units["hang.service"]).toMatchObject({ activeState: "active" });
    expect(a.acceptedConnections()).toBe(connections);
    const counted = (await r.metrics.registry.getSingleMetricAsString("nixguard_actions_total")).split("\n");
    expect(counted).toContain('nixguard_actions_total{deployment="a",action="restart",outcome="timeout"} 1');
  });

  it("with a slot free, another deployment's restart goes through while the hung one still waits", async () => {
    const r = await start(2);
    a.setHang(true);
    await r.queue.enqueue(restartOf("a", "hang.service"));
    await r.queue.enqueue(restartOf("b", "app.service"));
    expect(await waitFor(() => r.outcomes.length >= 2, WITHIN)).toBe(true);
    expect(r.outcomes.map((o) => [o.key, o.outcome])).toEqual([
      ["restart__b__b", "success"],
      ["restart__a__a", "timeout"],
    ]);
  });

  it("persistent sessions: a hung restart ends as timeout, its session killed, and the next probe gets a new one", async () => {
    await hungThenOther(1, "persistent");
    // The hung request's session was killed with it; b's session stays for its next request.
    expect(await waitFor(() => childrenNamed(process.pid, "ssh").length === 1, WITHIN)).toBe(true);
    a.setHang(false);
    const connections = a.acceptedConnections();
    const facts = await (lent!.transport as SshTransport).fetch(
      ["hang.service"],
      AbortSignal.timeout(10_000),
    );
    expect(facts.units["hang.service"]).toMatchObject({ activeState: "active" });
    expect(a.acceptedConnections()).toBe(connections + 1);
  });

  it("a restart that finishes in time is not touched", async () => {
    const r = await start(1);
    await r.queue.enqueue(restartOf("b", "app.service"));
    expect(await waitFor(() => r.outcomes.length >= 1, WITHIN)).toBe(true);
    expect(r.outcomes[0]).toMatchObject({ outcome: "success" });
  });
});

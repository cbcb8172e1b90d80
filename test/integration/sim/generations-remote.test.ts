import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CommandError } from "../../../src/errors.js";
import { SWITCH_GONE_EXIT } from "../../../src/probes/systemd/generations.js";
import { SshTransport } from "../../../src/probes/transports/ssh.js";
import { type SimBin, writeSimBin } from "../../../src/sim/bin.js";
import { SimControlClient } from "../../../src/sim/control-client.js";
import { simLayout } from "../../../src/sim/layout.js";
import { SIM_SWITCH_MS } from "../../../src/sim/render/nixos.js";
import { type SimServer, startSimulation } from "../../../src/sim/server.js";

/**
 * What a rollback needs of a simulated host, through NixGuard's own ssh transport (the lines it
 * sends, the parser it reads with) and the fake ssh: the NixOS generation layout, `nix-env
 * --set` of the system profile and switch-to-configuration in a transient `systemd-run --wait`
 * unit — answered as the real-host bed answers them (test/integration/realhost/rollback.test.ts).
 */
const layout = simLayout("fediversity");
let sim: SimServer;
let bin: SimBin;
let dir: string;
let control: SimControlClient;

const mastodon = () => sim.fleet.host("mastodon") as NonNullable<ReturnType<SimServer["fleet"]["host"]>>;
const transport = () =>
  new SshTransport(
    {
      kind: "ssh",
      command: bin.ssh,
      address: mastodon().def.address,
      user: "root",
      port: 22,
      connectTimeoutMs: 5_000,
      controlPersistMs: 60_000,
    },
    { runtimeDir: join(dir, "run") },
  );
const signal = () => AbortSignal.timeout(10 * SIM_SWITCH_MS + 10_000);
const remote = async (cmd: string) => {
  const { execFile } = await import("node:child_process");
  return new Promise<string>((resolve, reject) =>
    execFile(bin.ssh, ["-T", "--", mastodon().def.address, cmd], (err, out) =>
      err ? reject(err) : resolve(out),
    ),
  );
};

beforeAll(async () => {
  sim = await startSimulation(layout);
  dir = mkdtempSync(join(tmpdir(), "nixguard-sim-gen-"));
  bin = writeSimBin(join(dir, "bin"), { controlUrl: sim.url });
  control = new SimControlClient(sim.url);
});

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await control.healAll();
});

describe("a simulated host's generations", () => {
  it("a broken deploy, then the rollback's nix-env --set and switch in systemd-run: back on the known-good system", async () => {
    const good = mastodon().currentSystem;
    const t = transport();
    const before = await t.generations(signal());
    expect(before.current).toBe(good);
    expect(before.generations.at(-1)?.path).toBe(good);

    // The flake's next commit breaks mastodon-web; a deploy brings it: the unit fails, the apply too.
    const fault = await control.inject({
      kind: "broken-generation",
      host: "mastodon",
      unit: "mastodon-web.service",
    });
    expect(fault.system).toMatch(/^\/nix\/store\/[0-9a-z]{32}-nixos-system-mastodon-/);
    await control.deploy("fediversity.mastodon");
    const broken = await t.generations(signal());
    expect(broken.current).toBe(fault.system);
    const n = broken.profile as number;
    expect(broken.generations.find((g) => g.number === n)?.path).toBe(fault.system);
    expect(sim.fleet.unit(mastodon(), "mastodon-web.service")?.activeState).toBe("failed");
    // A restart does not heal it on that generation.
    await t.restart(["mastodon-web.service"], signal()).catch(() => undefined);
    expect(sim.fleet.unit(mastodon(), "mastodon-web.service")?.activeState).toBe("failed");

    const started = Date.now();
    await t.switchSystem(good, "nixguard-rollback-0123456789ab.service", signal());
    expect(Date.now() - started).toBeGreaterThanOrEqual(SIM_SWITCH_MS);
    const after = await t.generations(signal());
    // nix-env --set made a new generation pointing at the good system, as on a real host.
    expect(after.profile).toBe(n + 1);
    expect(after.generations.find((g) => g.number === n + 1)?.path).toBe(good);
    expect(after.current).toBe(good);
    expect((await remote("readlink /nix/var/nix/profiles/system")).trim()).toBe(`system-${n + 1}-link`);
    expect(sim.fleet.unit(mastodon(), "mastodon-web.service")?.activeState).toBe("active");
  });

  it("a system no longer on the host is refused with the switch's gone status; a switch into a broken system exits 4", async () => {
    const t = transport();
    const gone = "/nix/store/00000000000000000000000000000000-nixos-system-mastodon-25.05.20250601.0000000";
    const err = await t
      .switchSystem(gone, "nixguard-rollback-aaaaaaaaaaaa.service", signal())
      .catch((e) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).exitCode).toBe(SWITCH_GONE_EXIT);
    expect((err as CommandError).stderrTail).toContain(`nixguard: ${gone} is not on this host`);

    const fault = await control.inject({
      kind: "broken-generation",
      host: "mastodon",
      unit: "mastodon-web.service",
    });
    await control.deploy("fediversity.mastodon");
    const good = (await t.generations(signal())).generations.at(-2)?.path as string;
    await t.switchSystem(good, "nixguard-rollback-bbbbbbbbbbbb.service", signal());
    const e4 = await t
      .switchSystem(fault.system as string, "nixguard-rollback-cccccccccccc.service", signal())
      .catch((e) => e);
    expect((e4 as CommandError).exitCode).toBe(4);
  });
});

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { prepareNixops4Ssh, sshConfigText } from "../../../src/nixops4/ssh-env.js";
import { FAKE_NIXOPS4, type FakeFlake, makeFakeFlake, waitFor } from "../../helpers/fake-nixops4.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { startSshd, type TestSshd } from "../../helpers/sshd.js";
import { desired, makeRig, type Rig } from "./harness.js";

/**
 * nixops4's own ssh (issue 17 item 6): what a redeploy hands nixops4 — the environment, the
 * ssh_config and the `ssh` wrapper — and that the ssh nixops4-nixos runs with them reaches a real
 * sshd with NixGuard's configured identity and known_hosts, although nixops4-nixos overwrites
 * NIX_SSHOPTS and passes its own UserKnownHostsFile.
 */
let redis: TestRedis;
let sshd: TestSshd;
let rig: Rig | undefined;
let flake: FakeFlake | undefined;
let runtimeDir: string;

beforeAll(async () => {
  redis = await startRedis();
  sshd = await startSshd();
});
afterAll(async () => {
  await redis?.stop();
  await sshd?.stop();
});
afterEach(async () => {
  await rig?.close();
  flake?.cleanup();
  if (runtimeDir) rmSync(runtimeDir, { recursive: true, force: true });
  rig = undefined;
  flake = undefined;
});

const settings = (ssh: Record<string, string>) => ({
  command: FAKE_NIXOPS4,
  timeout: 20_000,
  interruptGrace: 400,
  killGrace: 600,
  stragglerGrace: 200,
  extraArgs: [],
  ssh,
});

/** The script nixops4-nixos runs per machine (nixos.nix at 18e3a69), its `nix copy` left out. */
const nixopsNixosSsh = (env: Record<string, string>, userKnownHosts: string) =>
  spawnSync(
    "bash",
    [
      "-c",
      `set -euo pipefail
export NIX_SSHOPTS="-o ConnectTimeout=10 -o ConnectionAttempts=12 -o KbdInteractiveAuthentication=no -o PasswordAuthentication=no -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${userKnownHosts}"
ssh $NIX_SSHOPTS -p ${sshd.port} "$0" "echo switched"`,
      "root@127.0.0.1",
    ],
    { env, encoding: "utf8", timeout: 30_000 },
  );

describe("nixops4's own ssh", () => {
  it("a redeploy hands nixops4 an ssh wrapper first on PATH and NIX_SSHOPTS=-F, with a 0600 ssh_config", async () => {
    flake = makeFakeFlake("nixops4-ssh");
    flake.control({ mode: "success" });
    runtimeDir = mkdtempSync(join(tmpdir(), "nixguard-nixops4-ssh-run-"));
    const f = flake;
    rig = await makeRig(redis.url, () => desired([{ name: "fedi", flake: f.dir, hosts: ["web"] }]));
    await rig.startWorker({
      nixops4: settings({ identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile }),
      runtimeDir,
    });
    await rig.queue.enqueue({
      action: { kind: "redeploy", deployment: "fedi", target: "fedi" },
      actor: "api:ops",
      reason: "manual",
    });
    expect(await waitFor(() => rig?.outcomes.length === 1, 15_000)).toBe(true);
    expect(rig.outcomes[0]).toMatchObject({ outcome: "success" });

    const env = f.calls().find((c) => c.event === "start")?.env ?? {};
    const dir = join(runtimeDir, "nixops4-ssh");
    const config = join(dir, "ssh_config");
    expect(env["NIX_SSHOPTS"]).toBe(`-F ${config}`);
    expect(env["PATH"]?.split(":")[0]).toBe(join(dir, "bin"));
    expect(env["PATH"]?.split(":").slice(1).join(":")).toBe(process.env["PATH"]);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "bin", "ssh")).mode & 0o777).toBe(0o700);
    expect(readFileSync(config, "utf8")).toBe(
      [
        "# Written by NixGuard for nixops4's ssh (nixops4.ssh in its config); rewritten at every apply.",
        "Host *",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        `  IdentityFile "${sshd.identityFile}"`,
        "  IdentitiesOnly yes",
        `  GlobalKnownHostsFile "${sshd.knownHostsFile}" /etc/ssh/ssh_known_hosts`,
        "",
      ].join("\n"),
    );
    const wrapper = readFileSync(join(dir, "bin", "ssh"), "utf8");
    expect(wrapper).toMatch(/^#!\/bin\/sh\n/);
    expect(wrapper).toContain(`' -F '${config}' "$@"`);

    // nixops4-nixos' own ssh, run with what nixops4 got: NixGuard's key and known_hosts reach the
    // host, with the machine's UserKnownHostsFile (here an empty one) on the command line.
    const ok = nixopsNixosSsh(env, "/dev/null");
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("switched\n");
    expect(ok.status).toBe(0);
    // Without the wrapper (the environment nixops4 got before), the same ssh cannot get in.
    const without = nixopsNixosSsh({ ...env, PATH: process.env["PATH"] ?? "" }, "/dev/null");
    expect(without.status).toBe(255);
    expect(without.stderr).toMatch(/Host key verification failed|Permission denied/);
  }, 60_000);

  it("sets nothing when nixops4.ssh is empty; refuses values that could break the file", () => {
    runtimeDir = mkdtempSync(join(tmpdir(), "nixguard-nixops4-ssh-run-"));
    expect(prepareNixops4Ssh({}, runtimeDir, process.env["PATH"])).toBeUndefined();
    for (const bad of ["relative/key", "/key\nProxyCommand sh", '/key" ProxyCommand', "/a b", "/a/../b"])
      expect(() => sshConfigText({ identityFile: bad })).toThrow(/refusing nixops4.ssh.identityFile/);
    expect(() => sshConfigText({ knownHostsFile: "/kh\n" })).toThrow(/refusing nixops4.ssh.knownHostsFile/);
    // ssh_config expands %-tokens: a literal % stays literal.
    expect(sshConfigText({ identityFile: "/keys/100%" })).toContain('IdentityFile "/keys/100%%"');
    expect(() => prepareNixops4Ssh({ identityFile: "/k" }, runtimeDir, "/nonexistent-bin")).toThrow(
      /no ssh on PATH/,
    );
  });
});

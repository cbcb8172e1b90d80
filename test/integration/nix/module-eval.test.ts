/**
 * Evaluates nix/module.nix with nixpkgs' `lib` (eval-module.nix stubs the rest of
 * NixOS) and feeds the JSON it generates to the real `nixguard config check`.
 * Needs a nixpkgs `lib` directory in NIXPKGS_LIB (for example a checkout of
 * nix-community/nixpkgs.lib) and root, since evaluation writes the generated files
 * to the local Nix store; skipped otherwise. The flake's `module-eval` check covers
 * the same ground against real NixOS.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../../..", import.meta.url).pathname;
const lib = process.env.NIXPKGS_LIB;
const runnable = Boolean(lib && existsSync(join(lib, "default.nix")) && process.getuid?.() === 0);

interface Evaluated {
  failedAssertions: string[];
  settings?: Record<string, unknown> & { redis?: { url?: string }; api?: { listen?: string } };
  unit?: {
    after: string[];
    requires: string[];
    path: string[];
    serviceConfig: Record<string, unknown>;
    environment: Record<string, string>;
  };
  redis?: Record<string, { enable?: boolean }>;
  firewall?: number[];
}

const FAKE_NIXOPS4 = `derivation { name = "nixops4"; system = "x86_64-linux"; builder = "/bin/sh"; }`;
const DEPLOYMENT = `{
  flake = "/var/lib/fediversity/deployment";
  target = "fediversity";
  fediversity = { domain = "example.org"; mastodon.enable = true; };
  hosts.mastodon = { address = "10.0.0.11"; services = [ "mastodon" ]; };
}`;

function evaluate(nixguard: string): Evaluated {
  const configuration = `{ ... }: { services.nixguard = { enable = true; checkConfig = false; ${nixguard} }; }`;
  const r = spawnSync(
    "nix-instantiate",
    [
      "--eval",
      "--strict",
      "--json",
      "--read-write-mode",
      join(root, "test/integration/nix/eval-module.nix"),
      "--arg",
      "lib",
      `import ${lib}`,
      "--arg",
      "configuration",
      configuration,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`nix-instantiate failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Evaluated;
}

// Made by the tests that run: when the suite is skipped (no nixpkgs lib here), vitest runs no
// file-level hook either, and a directory made at import time was left behind.
let dir: string | undefined;
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function configCheck(settings: unknown): { status: number | null; output: string } {
  dir ??= mkdtempSync(join(tmpdir(), "nixguard-module-eval-"));
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(settings));
  const r = spawnSync("npx", ["tsx", join(root, "src/main.ts"), "config", "check", file], {
    encoding: "utf8",
    cwd: root,
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe.skipIf(!runnable)("services.nixguard evaluated with nixpkgs lib", () => {
  it("a complete setup evaluates, and its generated config passes `nixguard config check`", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      sshKeyFile = "/run/keys/ssh";
      knownHostsFile = "/etc/nixguard/known_hosts";
      apiTokenFiles.admin = { file = "/run/keys/admin"; scope = "admin"; };
      apiTokenFiles.grafana.file = "/run/keys/grafana";
      environmentFile = "/run/keys/env";
      openFirewall = true;
      settings.deployments.fediversity = ${DEPLOYMENT};
    `);
    expect(out.failedAssertions).toEqual([]);
    expect(out.settings).toMatchObject({
      api: {
        listen: "127.0.0.1:9273",
        tokens: [
          { name: "admin", scope: "admin", file: "/run/credentials/nixguard.service/api-token-admin" },
          { name: "grafana", scope: "read", file: "/run/credentials/nixguard.service/api-token-grafana" },
        ],
      },
      redis: { url: "unix:///run/redis-nixguard/redis.sock" },
      state: { dir: "/var/lib/nixguard", runtimeDir: "/run/nixguard" },
      ssh: {
        identityFile: "/run/credentials/nixguard.service/ssh-key",
        knownHostsFile: "/run/credentials/nixguard.service/known-hosts",
      },
    });
    expect(JSON.stringify(out.settings)).not.toMatch(/null/);
    const sc = out.unit!.serviceConfig;
    expect(sc.LoadCredential).toEqual([
      "ssh-key:/run/keys/ssh",
      "known-hosts:/etc/nixguard/known_hosts",
      "api-token-admin:/run/keys/admin",
      "api-token-grafana:/run/keys/grafana",
    ]);
    expect(sc.EnvironmentFile).toBe("/run/keys/env");
    expect(sc.SupplementaryGroups).toEqual(["redis-nixguard"]);
    expect(sc.TimeoutStopSec).toBe(120 + 30 + 60);
    expect(sc.ReadWritePaths).toContain("-/var/lib/fediversity/deployment");
    expect(out.unit!.requires).toEqual(["redis-nixguard.service"]);
    expect(out.unit!.after).toContain("redis-nixguard.service");
    expect(out.unit!.environment.HOME).toBe("/var/lib/nixguard");
    expect(out.redis?.nixguard?.enable).toBe(true);
    expect(out.firewall).toEqual([9273]);

    const check = configCheck(out.settings);
    expect(check.output).toMatch(/ok \(1 deployment/);
    expect(check.status).toBe(0);
  });

  it("an invalid setting reaches `nixguard config check`, which rejects it (exit 78)", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      settings.deployments.fediversity = ${DEPLOYMENT};
      settings.remediation.mode = "sometimes";
    `);
    expect(out.failedAssertions).toEqual([]);
    const check = configCheck(out.settings);
    expect(check.status).toBe(78);
    expect(check.output).toMatch(/remediation\.mode/);
  });

  it("derives TimeoutStopSec from shutdownGrace and killGrace", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      settings.deployments.fediversity = ${DEPLOYMENT};
      settings.worker.shutdownGrace = "5m";
      settings.nixops4.killGrace = "1m30s";
    `);
    expect(out.unit!.serviceConfig.TimeoutStopSec).toBe(300 + 90 + 60);
  });

  it("an external Redis replaces the local one", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      settings.deployments.fediversity = ${DEPLOYMENT};
      redis.createLocally = false;
      redis.url = "redis://redis.internal:6379/0";
    `);
    expect(out.failedAssertions).toEqual([]);
    expect(out.settings?.redis?.url).toBe("redis://redis.internal:6379/0");
    expect(out.redis?.nixguard?.enable).toBeUndefined();
    expect(out.unit!.requires).toEqual([]);
    expect(out.unit!.serviceConfig.SupplementaryGroups).toEqual([]);
    expect(configCheck(out.settings).status).toBe(0);
  });

  it("an IPv6 listen address is bracketed and accepted by the schema", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      settings.deployments.fediversity = ${DEPLOYMENT};
      listenAddress = "::";
      port = 9000;
    `);
    expect(out.settings?.api?.listen).toBe("[::]:9000");
    expect(configCheck(out.settings).status).toBe(0);
  });

  it("knownHosts entries become a known_hosts file in the store", () => {
    const out = evaluate(`
      nixops4Package = ${FAKE_NIXOPS4};
      settings.deployments.fediversity = ${DEPLOYMENT};
      knownHosts.mastodon = { hostNames = [ "mastodon" "10.0.0.11" ]; publicKey = "ssh-ed25519 AAAAkey"; };
    `);
    const file = (out.settings as { ssh: { knownHostsFile: string } }).ssh.knownHostsFile;
    expect(file).toMatch(/^\/nix\/store\/.+-nixguard-known-hosts$/);
    const text = spawnSync("cat", [file], { encoding: "utf8" }).stdout;
    expect(text).toBe("mastodon,10.0.0.11 ssh-ed25519 AAAAkey\n");
  });

  it.each([
    ["no deployments", `nixops4Package = ${FAKE_NIXOPS4};`, /settings\.deployments is empty/],
    ["no nixops4", `settings.deployments.fediversity = ${DEPLOYMENT};`, /nixops4Package is null/],
    [
      "neither local nor external Redis",
      `nixops4Package = ${FAKE_NIXOPS4}; settings.deployments.fediversity = ${DEPLOYMENT}; redis.createLocally = false;`,
      /exactly one of redis\.createLocally/,
    ],
    [
      "both known_hosts sources",
      `nixops4Package = ${FAKE_NIXOPS4}; settings.deployments.fediversity = ${DEPLOYMENT};
       knownHostsFile = "/etc/kh"; knownHosts.a.publicKey = "ssh-ed25519 AAAA";`,
      /mutually exclusive/,
    ],
  ])("asserts against %s", (_what, options, message) => {
    const out = evaluate(options);
    expect(out.failedAssertions.join("\n")).toMatch(message);
  });
});

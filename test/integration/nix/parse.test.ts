/**
 * CI for the Nix files (issue 6): every .nix file in the repository parses, and the
 * NixOS module declares what a nixpkgs reviewer expects. Nixpkgs itself is not
 * reachable here, so parsing (`nix-instantiate --parse`) is what runs everywhere;
 * module-eval.test.ts evaluates the module when a nixpkgs `lib` is at hand.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../..", import.meta.url).pathname;
const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "coverage", ".nixguard"]);

function nixFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : nixFiles(path);
    return entry.isFile() && entry.name.endsWith(".nix") ? [path] : [];
  });
}

/** `--store dummy://` lets non-root users parse without a Nix daemon or store. */
function parse(file: string): { status: number | null; stderr: string } {
  const r = spawnSync("nix-instantiate", ["--parse", "--store", "dummy://", file], { encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, stderr: r.stderr };
}

describe("every .nix file parses", () => {
  const files = nixFiles(root);

  it("finds the flake, the module, the package and the VM test", () => {
    const names = files.map((f) => relative(root, f));
    expect(names).toEqual(
      expect.arrayContaining(["flake.nix", "nix/module.nix", "nix/package.nix", "nix/tests/vm.nix"]),
    );
  });

  it.each(files.map((f) => [relative(root, f), f]))("%s", (_name, file) => {
    const { status, stderr } = parse(file);
    expect(stderr).toBe("");
    expect(status).toBe(0);
  });

  it("the parser rejects a broken file (the check can fail)", () => {
    const { status, stderr } = parse(join(root, "test/integration/nix/fixtures/broken.nix.txt"));
    expect(status).not.toBe(0);
    expect(stderr).toMatch(/syntax error/);
  });
});

/** The body of each `mkOption { … }` / `mkOption ( … )` call, by bracket matching. */
function optionBodies(text: string): string[] {
  const bodies: string[] = [];
  const re = /\bmkOption\s*([{(])/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const open = m[1]!;
    const close = open === "{" ? "}" : ")";
    let depth = 0;
    let i = m.index + m[0].length - 1;
    for (; i < text.length; i++) {
      if (text[i] === open) depth++;
      else if (text[i] === close && --depth === 0) break;
    }
    bodies.push(text.slice(m.index, i + 1));
  }
  return bodies;
}

describe("nix/module.nix, read as a nixpkgs reviewer would", () => {
  const text = readFileSync(join(root, "nix/module.nix"), "utf8");

  it.each([
    ["enable", /\benable = lib\.mkEnableOption\b/],
    ["package (nullable, defaulting to the flake's)", /\bpackage = lib\.mkPackageOption pkgs "nixguard"/],
    ["package assertion", /assertion = cfg\.package != null/],
    ["nixops4Package", /\bnixops4Package = lib\.mkOption/],
    ["nixops4Package assertion", /assertion = cfg\.nixops4Package != null/],
    ["RFC 42 settings", /freeformType = format\.type/],
    ["JSON format", /format = pkgs\.formats\.json \{ \}/],
    ["generated file", /format\.generate "/],
    ["build-time config check", /nixguard config check /],
    ["listenAddress", /\blistenAddress = lib\.mkOption/],
    ["port", /\bport = lib\.mkOption \{\s*type = lib\.types\.port;/],
    [
      "openFirewall default false",
      /openFirewall = lib\.mkOption \{\s*type = lib\.types\.bool;\s*default = false;/,
    ],
    [
      "redis.createLocally default true",
      /createLocally = lib\.mkOption \{\s*type = lib\.types\.bool;\s*default = true;/,
    ],
    ["redis.url", /\burl = lib\.mkOption/],
    ["redis server", /services\.redis\.servers\.nixguard/],
    ["sshKeyFile", /\bsshKeyFile = lib\.mkOption/],
    ["apiTokenFiles", /\bapiTokenFiles = lib\.mkOption/],
    ["environmentFile", /\benvironmentFile = lib\.mkOption/],
    ["knownHostsFile", /\bknownHostsFile = lib\.mkOption/],
    ["knownHosts", /\bknownHosts = lib\.mkOption/],
    ["credentials", /LoadCredential =/],
    ["EnvironmentFile", /EnvironmentFile = lib\.mkIf \(cfg\.environmentFile != null\)/],
  ])("declares %s", (_what, re) => {
    expect(text).toMatch(re);
  });

  it.each([
    ["StateDirectory", '"nixguard"'],
    ["RuntimeDirectory", '"nixguard"'],
    ["Restart", '"on-failure"'],
    ["KillMode", '"mixed"'],
    ["ProtectSystem", '"strict"'],
    ["ProtectHome", "true"],
    ["PrivateTmp", "true"],
    ["PrivateDevices", "true"],
    ["NoNewPrivileges", "true"],
    ["CapabilityBoundingSet", '""'],
    ["LockPersonality", "true"],
    ["MemoryDenyWriteExecute", "false"],
    ["ProtectKernelTunables", "true"],
    ["ProtectKernelModules", "true"],
    ["ProtectControlGroups", "true"],
    ["RestrictNamespaces", "true"],
    ["RestrictSUIDSGID", "true"],
    ["SystemCallArchitectures", '"native"'],
    ["UMask", '"0077"'],
  ])("sets %s = %s", (key, value) => {
    expect(text).toMatch(new RegExp(`\\b${key} = ${value.replace(/"/g, '\\"')};`));
  });

  it("bounds the restart rate and outlasts shutdownGrace on stop", () => {
    expect(text).toMatch(/startLimitBurst = \d+;/);
    expect(text).toMatch(/startLimitIntervalSec = \d+;/);
    expect(text).toMatch(/TimeoutStopSec =\s*durationSeconds cfg\.settings\.worker\.shutdownGrace/);
  });

  it("restricts address families to unix and IP sockets and filters system calls", () => {
    expect(text).toMatch(/RestrictAddressFamilies = \[\s*"AF_UNIX"\s*"AF_INET"\s*"AF_INET6"\s*\];/);
    expect(text).toMatch(/SystemCallFilter = \[\s*"@system-service"/);
  });

  it("puts nixops4, nix, ssh and git on the unit's path", () => {
    expect(text).toMatch(
      /path = \[\s*cfg\.nixops4Package\s*config\.nix\.package\s*config\.programs\.ssh\.package\s*pkgs\.git\s*\];/,
    );
  });

  it("gives every option a description", () => {
    const bodies = optionBodies(text);
    expect(bodies.length).toBeGreaterThan(15);
    const undescribed = bodies.filter((b) => !/\bdescription =/.test(b));
    expect(undescribed).toEqual([]);
  });

  it("avoids the old style (with lib; lib.mdDoc)", () => {
    expect(text).not.toMatch(/\bwith lib;/);
    expect(text).not.toMatch(/mdDoc/);
  });
});

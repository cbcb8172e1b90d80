/**
 * Evaluates flake.nix's outputs function with stand-in inputs (eval-flake.nix: nixpkgs' real lib
 * with stand-ins for the pkgs functions, a nixops4 flake with one package), as a user's
 * `--override-input` would: the package's whole derivation including its npm dependencies, the
 * module with the flake's defaults, the formatter, the checks and the package's passthru.tests
 * (the module evaluation and the VM test, whose nodes are evaluated too). No flake.lock can be
 * made here; this is what keeps the flake evaluable without one. Skipped without NIXPKGS_LIB; with
 * it set, anything that stops the evaluation is a failure.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { HEAP_NODE_FLAGS } from "../../../src/runtime/heap.js";
import { nixEval, nixpkgsLib, root, unusable } from "./nix-eval.js";

interface Entry {
  handedOver: Record<string, unknown> & { resolved?: string; integrity?: string };
  lockIn: Record<string, unknown> & { integrity?: string; version: string };
  fetch: { urls: string[]; outputHash: string; path: string } | null;
}

interface FlakeEvaluation {
  inputs: Record<string, string | null>;
  package: {
    name: string;
    pname: string;
    version: string;
    mainProgram: string;
    drvPath: string;
    npmDepsDrvPath: string;
    src: string;
    tests: string[];
    nodeFlags: string[];
    postInstall: string;
  };
  lock: Record<string, Entry>;
  overriddenLock: Record<string, Entry>;
  overriddenDrvPath: string;
  module: {
    failedAssertions: string[];
    execStart: string;
    nixops4Command: string;
    packagePath: string;
    nixops4Path: string;
  };
  formatter: Record<string, string>;
  checks: Record<string, string[]>;
  darwinTests: string[];
  moduleEvalCheck: string;
  vm: {
    drvPath: string;
    nodes: string[];
    controller: {
      nixops4: string;
      sshConfig: string;
      nixops4Ssh: Record<string, string>;
      failedAssertions: string[];
      unit: string;
    };
    target: { toplevel: string; specialisations: string[] };
  };
  devShell: string;
}

const SAMPLE = [
  "node_modules/fastify", // a direct dependency: importNpmLock pins package.json to it
  "node_modules/@babel/parser", // scoped
  "node_modules/@fastify/ajv-compiler", // scoped, direct dependency of fastify
  "node_modules/ajv/node_modules/fast-uri", // nested
  "node_modules/@biomejs/cli-win32-x64", // optional, no integrity in the lock
];

const lockFile = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { integrity?: string; resolved?: string; optional?: boolean }>;
};

const drv = /^\/nix\/store\/[a-z0-9]{32}-.+\.drv$/;

describe.skipIf(!nixpkgsLib)("the flake, evaluated with stand-in inputs", () => {
  let out: FlakeEvaluation;

  beforeAll(() => {
    if (unusable()) return; // the first test reports it
    const sample = `[ ${SAMPLE.map((k) => JSON.stringify(k)).join(" ")} ]`;
    out = nixEval<FlakeEvaluation>("test/integration/nix/eval-flake.nix", { sample });
  });

  it("NIXPKGS_LIB is a nixpkgs lib and nix-instantiate runs (set but unusable is a failure)", () => {
    expect(unusable()).toBeUndefined();
    expect(out).toBeDefined();
  });

  it("declares the inputs a user pins or overrides", () => {
    expect(out.inputs).toEqual({
      nixpkgs: "github:NixOS/nixpkgs/nixos-unstable",
      nixops4: "github:nixops4/nixops4",
    });
  });

  it("the package's wrapper starts node with the heap flags in front of the script", () => {
    expect(out.package.nodeFlags).toEqual([...HEAP_NODE_FLAGS]);
    // One wrapper, written again after the install hook's: node, its flags, then the script.
    const wrap = out.package.postInstall.replace(/\\\n/g, " ").replace(/\s+/g, " ").trim();
    const m =
      /makeWrapper (\/nix\/store\/\S+\/bin\/node) "\$out\/bin\/nixguard" --add-flags '([^']*)' --add-flags "([^"]*)"/.exec(
        wrap,
      );
    expect(m, wrap).not.toBeNull();
    expect(m![2]!.split(" ")).toEqual([...HEAP_NODE_FLAGS]);
    expect(m![3]).toBe("$out/lib/node_modules/nixguard/dist/main.js");
    expect(wrap).toMatch(/"\$\{makeWrapperArgs\[@\]\}"$/);
  });

  it("the package evaluates to a whole derivation, its npm dependencies included", () => {
    const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string })
      .version;
    expect(out.package).toMatchObject({
      pname: "nixguard",
      version,
      name: `nixguard-${version}`,
      mainProgram: "nixguard",
    });
    expect(out.package.drvPath).toMatch(drv);
    expect(out.package.npmDepsDrvPath).toMatch(drv);
    expect(out.package.src).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nixguard-source$/);
  });

  it("the lock handed to importNpmLock has registry URLs from name and version, each with its integrity", () => {
    // The sample covers what the lock holds: no entry there has a `resolved` URL of its own.
    expect(Object.values(lockFile.packages).filter((p) => p.resolved)).toEqual([]);
    const expected: Record<string, string> = {
      "node_modules/fastify": "https://registry.npmjs.org/fastify/-/fastify-",
      "node_modules/@babel/parser": "https://registry.npmjs.org/@babel/parser/-/parser-",
      "node_modules/@fastify/ajv-compiler":
        "https://registry.npmjs.org/@fastify/ajv-compiler/-/ajv-compiler-",
      "node_modules/ajv/node_modules/fast-uri": "https://registry.npmjs.org/fast-uri/-/fast-uri-",
    };
    for (const [key, prefix] of Object.entries(expected)) {
      const entry = out.lock[key]!;
      const url = `${prefix}${entry.lockIn.version}.tgz`;
      expect(entry.lockIn.integrity, key).toBe(lockFile.packages[key]!.integrity);
      // importNpmLock fetched exactly that URL, checked against the lock's integrity...
      expect(entry.fetch, key).toMatchObject({ urls: [url], outputHash: entry.lockIn.integrity });
      // ...and wrote the fetched file back into the lock npm installs from, integrity kept.
      expect(entry.handedOver.resolved, key).toBe(`file:${entry.fetch!.path}`);
      expect(entry.handedOver.integrity, key).toBe(entry.lockIn.integrity);
    }
    // An optional platform build without integrity cannot be a fixed-output fetch: npm skips it.
    const optional = out.lock["node_modules/@biomejs/cli-win32-x64"]!;
    expect(optional.lockIn.integrity).toBeUndefined();
    expect(optional.fetch).toBeNull();
    expect(optional.handedOver.resolved).toBeUndefined();
  });

  it("the registry is an override; the fetched tarballs stay the same store paths", () => {
    for (const key of ["node_modules/@babel/parser", "node_modules/ajv/node_modules/fast-uri"]) {
      const entry = out.overriddenLock[key]!;
      expect(entry.fetch!.urls[0]).toMatch(
        /^https:\/\/npm\.example\.org\/(@babel\/parser\/-\/parser|fast-uri\/-\/fast-uri)-/,
      );
      expect(entry.fetch!.path).toBe(out.lock[key]!.fetch!.path);
    }
    expect(out.overriddenDrvPath).toMatch(drv);
  });

  it("nixosModules.default takes its package and nixops4 from the flake and its inputs", () => {
    expect(out.module.failedAssertions).toEqual([]);
    expect(out.module.execStart).toBe(
      `${out.module.packagePath}/bin/nixguard serve --config /etc/nixguard/config.json`,
    );
    expect(out.module.nixops4Command).toBe(`${out.module.nixops4Path}/bin/nixops4`);
  });

  it("has a formatter, checks and passthru.tests (module evaluation and VM test on Linux)", () => {
    expect(out.formatter).toEqual({
      "x86_64-linux": "nixfmt-tree-0-stand-in",
      "aarch64-linux": "nixfmt-tree-0-stand-in",
      "x86_64-darwin": "nixfmt-tree-0-stand-in",
      "aarch64-darwin": "nixfmt-tree-0-stand-in",
    });
    expect(out.package.tests).toEqual(["module-eval", "vm"]);
    expect(out.darwinTests).toEqual([]);
    expect(out.checks["x86_64-linux"]).toEqual(["module-eval", "package", "vm"]);
    expect(out.checks["aarch64-darwin"]).toEqual(["package"]);
    expect(out.moduleEvalCheck).toMatch(drv);
    expect(out.devShell).toMatch(drv);
  });

  it("the VM test evaluates: nixops4's stand-in switches the target like nixops4-nixos", () => {
    expect(out.vm.drvPath).toMatch(drv);
    expect(out.vm.nodes).toEqual(["controller", "target"]);
    expect(out.vm.controller.failedAssertions).toEqual([]);
    expect(out.vm.target.specialisations).toEqual(["repaired"]);
    const script = out.vm.controller.nixops4;
    expect(script).toContain(`toplevel=$(readlink -f ${out.vm.target.toplevel}/specialisation/repaired)`);
    expect(script).toMatch(/nix copy --to ssh-ng:\/\/root@target "\$toplevel"/);
    expect(script).toContain("nix-env -p /nix/var/nix/profiles/system --set $toplevel");
    expect(script).toContain("systemd-run --unit=nixos-rebuild-switch-to-configuration --wait");
    expect(script).toContain("$toplevel/bin/switch-to-configuration switch");
    // No identity on its command line: it comes from NixGuard's nixops4.ssh (the ssh wrapper
    // and ssh_config NixGuard writes), not from the system ssh_config.
    expect(script).not.toMatch(/ -i |IdentityFile/);
    expect(out.vm.controller.sshConfig).not.toContain("nixops4-ssh-key");
    expect(out.vm.controller.nixops4Ssh).toEqual({
      identityFile: "/run/credentials/nixguard.service/nixops4-ssh-key",
      knownHostsFile: "/etc/nixguard/known_hosts",
    });
    // It answers NixGuard's start-up questions (the older CLI) without switching anything.
    expect(script).toMatch(/--help\)\n\s+printf '.*deployments {2}Commands/);
    expect(out.vm.controller.unit).toMatch(
      /^LoadCredential=nixops4-ssh-key:\/nix\/store\/.+-privkey\.snakeoil$/m,
    );
  });
});

# Evaluates the flake's outputs function with stand-in inputs, as
# `nix flake check --override-input nixpkgs … --override-input nixops4 …` would hand
# them in: nixpkgs is the real lib with the stand-in pkgs (./stand-ins), nixops4 a
# flake with one package. Forces the package's derivation (its npm dependencies
# included), the module with the flake's defaults, the formatter, the checks and the
# package's passthru.tests. Used by flake-eval.test.ts.
#
#   nix-instantiate --eval --strict --json --readonly-mode --store dummy:// \
#     test/integration/nix/eval-flake.nix --arg lib 'import /path/to/nixpkgs/lib' \
#     --arg sample '[ "node_modules/@babel/parser" ]'
{
  lib,
  sample ? [ ],
}:

let
  root = ../../..;
  flake = import (root + "/flake.nix");
  system = "x86_64-linux";

  standIns = system: import ./stand-ins/pkgs.nix { inherit lib system; };
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
  ];
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs systems standIns;
    outPath = "/stand-in/nixpkgs";
  };
  nixops4 = {
    packages = lib.genAttrs systems (s: {
      default = (standIns s).writeShellScriptBin "nixops4" "stand-in";
    });
    outPath = "/stand-in/nixops4";
  };
  self = flake.outputs { inherit self nixpkgs nixops4; } // {
    outPath = root;
  };

  package = self.packages.${system}.default;
  npmDeps = package.drvAttrs.npmDeps;
  overridden = (package.override { npmRegistry = "https://npm.example.org/"; }).drvAttrs.npmDeps;
  entry =
    deps: key:
    let
      source = deps.sources.${key} or null;
    in
    {
      handedOver = deps.drvAttrs.passthru.packageLock.packages.${key} or null;
      lockIn = lib.getAttrFromPath [ key ] (builtins.fromJSON (builtins.readFile (root + "/package-lock.json"))).packages;
      fetch =
        if source == null then
          null
        else
          {
            inherit (source) urls outputHash;
            path = "${source}";
          };
    };

  pkgs = nixpkgs.legacyPackages.${system};
  module = (pkgs.nixos {
    imports = [ self.nixosModules.default ];
    services.nixguard = {
      enable = true;
      checkConfig = false;
      settings.deployments.d = {
        flake = "/srv/d";
        hosts.h.address = "10.0.0.1";
      };
    };
  }).config;

  tests = package.tests;
  vmNodes = tests.vm.nodes;
in
{
  inputs = lib.mapAttrs (_: input: input.url or null) flake.inputs;
  package = {
    inherit (package) name pname version;
    inherit (package.meta) mainProgram license;
    drvPath = package.drvPath;
    npmDepsDrvPath = npmDeps.drvPath;
    src = "${package.drvAttrs.src}";
    tests = lib.attrNames package.tests;
    inherit (package) nodeFlags;
    postInstall = package.drvAttrs.postInstall or "";
  };
  lock = lib.genAttrs sample (entry npmDeps);
  overriddenLock = lib.genAttrs sample (entry overridden);
  overriddenDrvPath = overridden.drvPath;
  module = {
    failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) module.assertions);
    execStart = module.systemd.services.nixguard.serviceConfig.ExecStart;
    nixops4Command = module.services.nixguard.settings.nixops4.command;
    packagePath = "${package}";
    nixops4Path = "${nixops4.packages.${system}.default}";
  };
  formatter = lib.mapAttrs (_: f: f.name) self.formatter;
  checks = lib.mapAttrs (_: lib.attrNames) self.checks;
  darwinTests = lib.attrNames self.packages.x86_64-darwin.default.tests;
  moduleEvalCheck = tests.module-eval.drvPath;
  vm = {
    drvPath = tests.vm.drvPath;
    nodes = lib.attrNames vmNodes;
    controller = {
      nixops4 = vmNodes.controller.config.services.nixguard.nixops4Package.drvAttrs.text;
      sshConfig = vmNodes.controller.config.programs.ssh.extraConfig;
      nixops4Ssh = vmNodes.controller.config.services.nixguard.settings.nixops4.ssh;
      failedAssertions = map (a: a.message) (
        lib.filter (a: !a.assertion) vmNodes.controller.config.assertions
      );
      unit = vmNodes.controller.config.systemd.units."nixguard.service".text;
    };
    target = {
      toplevel = "${vmNodes.target.config.system.build.toplevel}";
      specialisations = lib.attrNames vmNodes.target.config.specialisation;
    };
  };
  devShell = self.devShells.${system}.default.drvPath;
}

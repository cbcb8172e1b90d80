# Evaluates nix/module.nix with nixpkgs' `lib` alone (no nixpkgs, no NixOS): the
# NixOS options the module writes to are declared here as plain containers, and
# `pkgs` holds only what the module calls. Used by module-eval.test.ts where a
# nixpkgs `lib` is available; the flake's `module-eval` check does the same
# against real NixOS.
#
#   nix-instantiate --eval --strict --json test/integration/nix/eval-module.nix \
#     --arg lib 'import /path/to/nixpkgs/lib' --arg configuration '{ ... }'
{
  lib,
  configuration,
}:

let
  fakePackage =
    name:
    derivation {
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
    }
    // {
      meta.mainProgram = name;
    };

  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    git = fakePackage "git";
    nixguard = fakePackage "nixguard";
    formats.json =
      { }:
      {
        type = lib.types.attrsOf lib.types.anything;
        # Store references (nixops4.command) are fine here: nothing is built.
        generate = name: value: builtins.toFile name (builtins.unsafeDiscardStringContext (builtins.toJSON value));
      };
    writeText = name: text: builtins.toFile name text;
    runCommand =
      name: env: script:
      derivation (
        {
          inherit name;
          system = "x86_64-linux";
          builder = "/bin/sh";
          args = [
            "-c"
            script
          ];
        }
        // removeAttrs env [ "nativeBuildInputs" ]
      );
  };

  container = lib.mkOption {
    type = lib.types.lazyAttrsOf lib.types.anything;
    default = { };
  };

  nixosStub = {
    options = {
      assertions = lib.mkOption {
        type = lib.types.listOf lib.types.unspecified;
        default = [ ];
      };
      meta.maintainers = lib.mkOption {
        type = lib.types.listOf lib.types.unspecified;
        default = [ ];
      };
      users = container;
      environment.systemPackages = lib.mkOption {
        type = lib.types.listOf lib.types.package;
        default = [ ];
      };
      networking.firewall.allowedTCPPorts = lib.mkOption {
        type = lib.types.listOf lib.types.port;
        default = [ ];
      };
      nix.package = lib.mkOption { default = fakePackage "nix"; };
      programs.ssh.package = lib.mkOption { default = fakePackage "openssh"; };
      systemd.services = lib.mkOption {
        type = lib.types.attrsOf (lib.types.attrsOf lib.types.anything);
        default = { };
      };
      services.redis.servers = lib.mkOption {
        default = { };
        type = lib.types.attrsOf (
          lib.types.submodule (
            { name, ... }:
            {
              freeformType = lib.types.attrsOf lib.types.anything;
              options.user = lib.mkOption { default = "redis-${name}"; };
              options.unixSocket = lib.mkOption { default = "/run/redis-${name}/redis.sock"; };
            }
          )
        );
      };
    };
  };

  evaluated = lib.evalModules {
    modules = [
      nixosStub
      (import ../../../nix/module.nix { })
      configuration
    ];
    specialArgs = { inherit pkgs; };
  };
  inherit (evaluated) config;
  unit = config.systemd.services.nixguard or null;
  # ExecStart = "<nixguard> serve --config <file>": the file the service really reads.
  configPath = lib.last (lib.splitString " " unit.serviceConfig.ExecStart);
  plain = v: if lib.isDerivation v then "${v}" else v;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
}
// lib.optionalAttrs (unit != null) {
  settings = builtins.fromJSON (builtins.readFile (builtins.unsafeDiscardStringContext configPath));
  unit = {
    inherit (unit)
      after
      requires
      wants
      wantedBy
      environment
      startLimitBurst
      startLimitIntervalSec
      ;
    path = map plain unit.path;
    serviceConfig = lib.mapAttrs (_: plain) unit.serviceConfig;
  };
  redis = config.services.redis.servers;
  users = config.users;
  firewall = config.networking.firewall.allowedTCPPorts;
}

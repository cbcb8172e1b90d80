# Evaluates nix/module.nix with nixpkgs' `lib` against the slice of NixOS in ./nixos
# and the stand-in pkgs in ./stand-ins, for several configurations at once (one
# nix-instantiate, one import of lib), and says what switch-to-configuration would do
# to nixguard.service between two of them. Used by module-eval.test.ts; the flake's
# `module-eval` check does the same against real NixOS.
#
#   nix-instantiate --eval --strict --json --readonly-mode --store dummy:// \
#     test/integration/nix/eval-module.nix --arg lib 'import /path/to/nixpkgs/lib' \
#     --arg cases '{ a = { services.nixguard = …; }; }' --arg switches '[ ]'
{
  lib,
  cases,
  switches ? [ ],
}:

let
  standIns = import ./stand-ins/pkgs.nix { inherit lib; };
  # As with the flake's overlay: the module finds the package as pkgs.nixguard.
  pkgs = standIns // {
    nixguard = standIns.writeShellScriptBin "nixguard" "stand-in";
  };
  switch = import ./switch.nix { inherit lib; };
  module = import ../../../nix/module.nix { };

  evaluate = configuration: import ./nixos { inherit lib pkgs; } [ module configuration ];
  evaluated = lib.mapAttrs (_: evaluate) cases;
  configs = lib.mapAttrs (_: e: e.config) evaluated;

  plain = value: if lib.isDerivation value then "${value}" else value;
  unitText = config: config.systemd.units."nixguard.service".text;

  summary =
    { config, options, ... }:
    let
      service = config.systemd.services.nixguard;
      configSource = config.environment.etc."nixguard/config.json".source or { name = null; };
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
    in
    {
      inherit failedAssertions;
      inherit (config) warnings;
    }
    # NixOS stops at failed assertions before it builds any unit; so does this.
    // lib.optionalAttrs (failedAssertions == [ ] && config.systemd.services ? nixguard) {
      # The checked file (a build step) has no value to read; the tests read the
      # unchecked one (checkConfig = false).
      settings = if configSource ? value then builtins.fromJSON (builtins.unsafeDiscardStringContext configSource.value) else null;
      configSource = configSource.name;
      unit = {
        inherit (service)
          after
          requires
          wants
          wantedBy
          environment
          startLimitBurst
          startLimitIntervalSec
          restartTriggers
          ;
        reloadTriggers = map plain service.reloadTriggers;
        path = map plain service.path;
        serviceConfig = lib.mapAttrs (_: plain) service.serviceConfig;
        text = unitText config;
      };
      etc = lib.mapAttrs (_: entry: {
        inherit (entry) text mode;
        source = "${entry.source}";
      }) config.environment.etc;
      polkit = config.security.polkit;
      sshConfig = config.programs.ssh.extraConfig;
      redis = lib.mapAttrs (_: server: { inherit (server) enable user group; }) config.services.redis.servers;
      users = lib.mapAttrs (_: user: { inherit (user) group isSystemUser home; }) config.users.users;
      firewall = config.networking.firewall.allowedTCPPorts;
      meta = {
        doc = if options.meta.doc.isDefined then map (def: baseNameOf (toString def.value)) config.meta.doc else [ ];
        maintainers = config.meta.maintainers;
      };
    };
in
{
  results = lib.mapAttrs (_: summary) evaluated;
  switches = map (
    s: s // { action = switch.action (unitText configs.${s.from}) (unitText configs.${s.to}); }
  ) switches;
}

# Evaluates services.nixguard in a real NixOS configuration and builds its unit
# file, which builds the checked config file (`nixguard config check` at build
# time), without booting anything.
{ pkgs, self }:

let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;

  nixos = pkgs.nixos {
    imports = [ self.nixosModules.default ];
    boot.loader.grub.enable = false;
    fileSystems."/".device = "/dev/null";
    system.stateVersion = lib.trivial.release;

    services.nixguard = {
      enable = true;
      package = self.packages.${system}.default;
      nixops4Package = pkgs.writeShellScriptBin "nixops4" "exit 0";
      sshKeyFile = "/run/keys/nixguard-ssh-key";
      apiTokenFiles.admin = {
        file = "/run/keys/nixguard-admin-token";
        scope = "admin";
      };
      knownHosts.mastodon.publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample";
      settings.deployments.fediversity = {
        flake = "/var/lib/fediversity/deployment";
        target = "fediversity";
        fediversity = {
          domain = "example.org";
          mastodon.enable = true;
        };
        hosts.mastodon = {
          address = "10.0.0.11";
          services = [ "mastodon" ];
        };
      };
    };
  };

  failed = lib.filter (a: !a.assertion) nixos.config.assertions;
  unit = nixos.config.systemd.units."nixguard.service".unit;
in
assert lib.assertMsg (failed == [ ]) (lib.concatMapStringsSep "\n" (a: a.message) failed);
pkgs.runCommand "nixguard-module-eval" { } ''
  file=${unit}/nixguard.service
  cat "$file"
  for line in \
    'User=nixguard' \
    'ProtectSystem=strict' \
    'CapabilityBoundingSet=' \
    'MemoryDenyWriteExecute=false' \
    'KillMode=mixed' \
    'TimeoutStopSec=245' \
    'LoadCredential=ssh-key:/run/keys/nixguard-ssh-key' \
    'LoadCredential=api-token-admin:/run/keys/nixguard-admin-token' \
    'SupplementaryGroups=redis-nixguard' \
    'RestartPreventExitStatus=78' \
    'PrivateMounts=true'; do
    grep -qxF "$line" "$file" || { echo "missing in the unit: $line" >&2; exit 1; }
  done
  for pattern in '^ExecStart=.* serve --config /etc/nixguard/config.json$' '^ExecReload=.*kill -HUP \$MAINPID$' \
    '^X-Reload-Triggers=' '^X-Restart-Triggers='; do
    grep -qE "$pattern" "$file" || { echo "missing in the unit: $pattern" >&2; exit 1; }
  done
  if grep -F daemon-socket "$file"; then echo "the unit names the nix-daemon socket" >&2; exit 1; fi
  touch $out
''

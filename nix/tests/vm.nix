# NixOS VM test: a `controller` running NixGuard (with Redis from the module) and a
# `target` running sshd and a small web service. Run with `nix flake check` on a
# machine with KVM, or `nix build .#checks.x86_64-linux.vm`.
#
# It stops the service and waits for NixGuard to restart it; checks /metrics and
# /api/v1/hosts/target; then breaks the service so restarts cannot heal it and
# waits for the redeploy NixGuard queues. nixops4 is a stand-in that switches the
# target the way nixops4-nixos does, over the ssh setup the module gives nixops4:
# the target ends up on its `repaired` generation, and the broken service runs again.
{ pkgs, self }:

let
  inherit (pkgs.stdenv.hostPlatform) system;
  sshKeys = import (pkgs.path + "/nixos/tests/ssh-keys.nix") pkgs;
  adminToken = "vm-test-admin-token-0123456789abcdef";
  port = 9273;

  # nixops4 itself needs a deployment flake and network access to build; this
  # stand-in deploys a generation already built (the target's `repaired`
  # specialisation) in nixops4-nixos's three steps: copy the closure with
  # `nix copy --to ssh-ng://`, set the system profile, run switch-to-configuration in
  # a transient unit that outlives the ssh session. Like nixops4-nixos it sets
  # NIX_SSHOPTS itself and passes no identity: the key and host key come from
  # NixGuard's nixops4.ssh settings the module sets (the ssh wrapper first on PATH
  # and the ssh_config NixGuard writes for nixops4).
  nixops4StandIn =
    target:
    pkgs.writeShellScriptBin "nixops4" ''
      set -euo pipefail
      # What NixGuard asks at start (the older CLI's read-only commands): no switch.
      case "''${1:-}" in
        --help)
          printf 'Usage: nixops4 [OPTIONS] <COMMAND>\n\nCommands:\n  apply        Apply changes so that the resources are in the desired state\n  deployments  Commands that operate on all deployments\n'
          exit 0
          ;;
        deployments)
          echo test
          exit 0
          ;;
      esac
      echo "cwd=$PWD args=$*" >> /var/lib/nixguard/nixops4-calls
      toplevel=$(readlink -f ${target.system.build.toplevel}/specialisation/repaired)
      export NIX_SSHOPTS="-o ConnectTimeout=10 -o ConnectionAttempts=12 -o BatchMode=yes -o StrictHostKeyChecking=yes"
      nix copy --to ssh-ng://root@target "$toplevel" --no-check-sigs \
        --extra-experimental-features nix-command
      # shellcheck disable=SC2086
      ssh $NIX_SSHOPTS root@target \
        "nix-env -p /nix/var/nix/profiles/system --set $toplevel" \
        "&& systemd-run --unit=nixos-rebuild-switch-to-configuration --wait --collect" \
        "$toplevel/bin/switch-to-configuration switch"
      echo "switched target to $toplevel" >> /var/lib/nixguard/nixops4-calls
    '';

  # Serves HTTP on 8080 unless /run/demo-app-broken exists: then every start fails,
  # which is how the test exhausts NixGuard's restarts. The `repaired` generation
  # (what the redeploy switches to) ignores the flag.
  demoApp = pkgs.writeShellScript "demo-app" ''
    if [ -e /run/demo-app-broken ] && [ -z "''${DEMO_APP_REPAIRED:-}" ]; then
      echo "demo-app: broken on purpose" >&2
      exit 1
    fi
    mkdir -p /tmp/www && echo ok > /tmp/www/index.html
    exec ${pkgs.python3}/bin/python3 -m http.server 8080 --directory /tmp/www
  '';
in
pkgs.testers.runNixOSTest {
  name = "nixguard";

  nodes.target = {
    services.openssh.enable = true;
    # The snakeoil key doubles as the host key, so the controller can pin it.
    services.openssh.hostKeys = [
      {
        type = "ecdsa";
        path = "/etc/ssh/ssh_host_ecdsa_key";
      }
    ];
    environment.etc."ssh/ssh_host_ecdsa_key" = {
      source = sshKeys.snakeOilPrivateKey;
      mode = "0600";
    };
    users.users.root.openssh.authorizedKeys.keys = [ sshKeys.snakeOilPublicKey ];

    # What the redeploy switches to.
    specialisation.repaired.configuration = {
      systemd.services.demo-app.environment.DEMO_APP_REPAIRED = "1";
    };

    systemd.services.demo-app = {
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        ExecStart = demoApp;
        PrivateTmp = true;
        # systemd itself must not heal it: that is NixGuard's job here.
        Restart = "no";
      };
    };
    networking.firewall.allowedTCPPorts = [ 8080 ];
  };

  nodes.controller =
    { nodes, ... }:
    {
      imports = [ self.nixosModules.default ];

      environment.systemPackages = [
        pkgs.curl
        pkgs.jq
      ];
      systemd.tmpfiles.rules = [ "d /var/lib/nixguard-deploy 0750 nixguard nixguard -" ];

      services.nixguard = {
        enable = true;
        package = self.packages.${system}.default;
        nixops4Package = nixops4StandIn nodes.target;
        sshKeyFile = sshKeys.snakeOilPrivateKey;
        knownHosts.target.publicKey = sshKeys.snakeOilPublicKey;
        apiTokenFiles.admin = {
          file = pkgs.writeText "admin-token" adminToken;
          scope = "admin";
        };
        inherit port;

        settings = {
          log.level = "debug";
          probes = {
            interval = "2s";
            timeout = "5s";
            jitter = 0;
            failureThreshold = 1;
          };
          remediation = {
            restartAttempts = 2;
            settle = "3s";
            backoff = {
              initial = "1s";
              max = "2s";
            };
          };
          ssh.user = "root";
          deployments.test = {
            flake = "/var/lib/nixguard-deploy";
            target = "test";
            hosts.target = {
              address = "target";
              units = [ "demo-app.service" ];
              http = [
                {
                  name = "home";
                  url = "http://target:8080/";
                }
              ];
            };
          };
        };
      };
    };

  testScript = ''
    api = "http://127.0.0.1:${toString port}"
    auth = "-H 'Authorization: Bearer ${adminToken}'"

    start_all()
    target.wait_for_unit("sshd.service")
    target.wait_for_unit("demo-app.service")
    target.wait_for_open_port(8080)

    controller.wait_for_unit("redis-nixguard.service")
    controller.wait_for_unit("nixguard.service")
    controller.wait_for_open_port(${toString port})

    with subtest("health endpoints and metrics answer"):
        controller.succeed(f"curl --fail {api}/healthz")
        controller.wait_until_succeeds(f"curl --fail {api}/readyz", timeout=60)
        controller.wait_until_succeeds(
            f"curl --fail {api}/metrics | grep -E '^nixguard_host_up\\{{.*host=\"target\".*\\}} 1$'",
            timeout=120,
        )

    with subtest("the host API knows the target"):
        controller.succeed(f"curl --fail {auth} {api}/api/v1/hosts/target | jq -e . >&2")
        controller.fail(f"curl --fail {api}/api/v1/hosts/target")  # no token, no answer

    with subtest("a stopped unit is restarted by NixGuard"):
        target.succeed("systemctl stop demo-app.service")
        target.wait_until_succeeds("systemctl is-active demo-app.service", timeout=120)
        target.wait_for_open_port(8080)
        controller.wait_until_succeeds(
            f"curl --fail {api}/metrics | grep -E '^nixguard_actions_total\\{{.*action=\"restart\".*\\}} [1-9]'",
            timeout=60,
        )

    with subtest("exhausted restarts queue a redeploy"):
        target.succeed("touch /run/demo-app-broken")
        target.succeed("systemctl stop demo-app.service")
        controller.wait_until_succeeds("grep -F 'apply' /var/lib/nixguard/nixops4-calls", timeout=300)
        calls = controller.succeed("cat /var/lib/nixguard/nixops4-calls")
        assert "--no-interactive" in calls, calls
        assert "cwd=/var/lib/nixguard-deploy" in calls, calls
        assert " test" in calls, calls

    with subtest("the redeploy switched the target and the service runs again"):
        controller.wait_until_succeeds("grep -F 'switched target' /var/lib/nixguard/nixops4-calls", timeout=300)
        repaired = target.succeed("readlink -f /run/booted-system/specialisation/repaired").strip()
        target.wait_until_succeeds(f"test \"$(readlink -f /run/current-system)\" = {repaired}", timeout=120)
        target.succeed(f"test \"$(readlink -f /nix/var/nix/profiles/system)\" = {repaired}")
        target.wait_for_unit("demo-app.service")
        target.wait_for_open_port(8080)
        controller.wait_until_succeeds(
            f"curl --fail {api}/metrics | grep -E '^nixguard_last_deploy_success_timestamp_seconds\\{{.*deployment=\"test\".*\\}} [1-9]'",
            timeout=120,
        )

    with subtest("the service stops cleanly"):
        controller.succeed("systemctl stop nixguard.service")
        controller.fail("systemctl is-failed nixguard.service")
  '';
}

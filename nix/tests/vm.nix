# NixOS VM test: a `controller` running NixGuard (with Redis from the module) and a
# `target` running sshd and a small web service. Run with `nix flake check` on a
# machine with KVM, or `nix build .#checks.x86_64-linux.vm`.
#
# It stops the service and waits for NixGuard to restart it; checks /metrics and
# /api/v1/hosts/target; then breaks the service so restarts cannot heal it and
# waits for the redeploy NixGuard queues, run by a fake nixops4 that records
# its arguments.
{ pkgs, self }:

let
  inherit (pkgs.stdenv.hostPlatform) system;
  sshKeys = import "${pkgs.path}/nixos/tests/ssh-keys.nix" pkgs;
  adminToken = "vm-test-admin-token-0123456789abcdef";
  port = 9273;

  # Records every call; the redeploy "succeeds" without touching the target.
  fakeNixops4 = pkgs.writeShellScriptBin "nixops4" ''
    echo "cwd=$PWD args=$*" >> /var/lib/nixguard/nixops4-calls
  '';

  # Serves HTTP on 8080 unless /run/demo-app-broken exists: then every start fails,
  # which is how the test exhausts NixGuard's restarts.
  demoApp = pkgs.writeShellScript "demo-app" ''
    if [ -e /run/demo-app-broken ]; then
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

  nodes.controller = {
    imports = [ self.nixosModules.default ];

    environment.systemPackages = [
      pkgs.curl
      pkgs.jq
    ];
    systemd.tmpfiles.rules = [ "d /var/lib/nixguard-deploy 0750 nixguard nixguard -" ];

    services.nixguard = {
      enable = true;
      package = self.packages.${system}.default;
      nixops4Package = fakeNixops4;
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

    with subtest("the service stops cleanly"):
        controller.succeed("systemctl stop nixguard.service")
        controller.fail("systemctl is-failed nixguard.service")
  '';
}

# services.nixguard: NixGuard as a NixOS service next to the nixops4 deployer.
#
# The flake applies this file with `lib.modules.importApply`, handing in the flake
# itself (for the default package) and its optional nixops4 input.
{
  self ? null,
  nixops4 ? null,
}:
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.nixguard;
  inherit (pkgs.stdenv.hostPlatform) system;

  format = pkgs.formats.json { };

  stateDir = "/var/lib/nixguard";
  runtimeDir = "/run/nixguard";
  # systemd puts LoadCredential= files here; the generated JSON cannot use `%d`.
  credentialsDir = "/run/credentials/nixguard.service";
  redisServer = config.services.redis.servers.nixguard;

  # Durations as NixGuard writes them ("90s", "1h30m"), integers only here, so the
  # module can compute TimeoutStopSec from them.
  durationType = lib.types.strMatching "([0-9]+(ms|s|m|h|d))+";
  durationSeconds =
    text:
    let
      unitMs = {
        ms = 1;
        s = 1000;
        m = 60000;
        h = 3600000;
        d = 86400000;
      };
      parts = lib.filter lib.isList (builtins.split "([0-9]+)(ms|s|m|h|d)" text);
      totalMs = lib.foldl' (
        sum: part: sum + lib.toInt (lib.elemAt part 0) * unitMs.${lib.elemAt part 1}
      ) 0 parts;
    in
    (totalMs + 999) / 1000;

  listen =
    if lib.hasInfix ":" cfg.listenAddress then
      "[${cfg.listenAddress}]:${toString cfg.port}"
    else
      "${cfg.listenAddress}:${toString cfg.port}";

  knownHostsText = lib.concatMapStrings (
    entry: "${lib.concatStringsSep "," entry.hostNames} ${entry.publicKey}\n"
  ) (lib.attrValues cfg.knownHosts);

  # NixGuard's schema has optional keys but no nulls: drop unset values.
  settingsJson = lib.filterAttrsRecursive (_: value: value != null) cfg.settings;
  uncheckedConfigFile = format.generate "nixguard-unchecked.json" settingsJson;

  # Checked at build time, so a bad config fails `nixos-rebuild`, not the service.
  # `config check` reads only this file (credential paths need not exist yet).
  checkedConfigFile =
    pkgs.runCommand "nixguard.json"
      {
        preferLocalBuild = true;
        nativeBuildInputs = [ cfg.package ];
      }
      ''
        nixguard config check ${uncheckedConfigFile} || {
          echo "services.nixguard.settings produce an invalid NixGuard config (see above)." >&2
          echo "Reference: docs/configuration.md of NixGuard." >&2
          exit 1
        }
        cp ${uncheckedConfigFile} $out
      '';
  configFile = if cfg.checkConfig then checkedConfigFile else uncheckedConfigFile;

  flakeDirs = lib.mapAttrsToList (_: deployment: deployment.flake or null) (
    cfg.settings.deployments or { }
  );
in
{
  options.services.nixguard = {
    enable = lib.mkEnableOption "NixGuard, the self-healing reconciliation daemon for nixops4 deployments";

    package = lib.mkPackageOption pkgs "nixguard" {
      nullable = true;
      default = null;
    }
    // {
      defaultText = lib.literalExpression "pkgs.nixguard or nixguard.packages.\${system}.default";
    };

    nixops4Package = lib.mkOption {
      type = lib.types.nullOr lib.types.package;
      default = null;
      defaultText = lib.literalExpression "pkgs.nixops4 or nixops4.packages.\${system}.default";
      example = lib.literalExpression "inputs.nixops4.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = ''
        The nixops4 package NixGuard runs for redeploys (`nixops4 apply`).
        nixops4 is not in nixpkgs: when this module comes from NixGuard's flake it
        defaults to that flake's `nixops4` input; otherwise set it from your own
        nixops4 flake input.
      '';
    };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      example = "::";
      description = ''
        Address the REST API and the Prometheus `/metrics` endpoint listen on.
        The API is protected by tokens ({option}`services.nixguard.apiTokenFiles`);
        `/metrics`, `/healthz` and `/readyz` are open unless
        {option}`services.nixguard.settings.api.metricsAuth` is set.
      '';
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = 9273;
      description = "Port of the REST API and the Prometheus `/metrics` endpoint.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Whether to open {option}`services.nixguard.port` in the firewall, for a
        Prometheus server or an operator on another machine.
      '';
    };

    redis = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = ''
          Whether to run a Redis server for NixGuard on this machine
          ({option}`services.redis.servers.nixguard`), reached through its unix
          socket only. Disable it to use {option}`services.nixguard.redis.url`.
        '';
      };

      url = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "redis://redis.internal:6379/0";
        description = ''
          URL of an external Redis (`redis://`, `rediss://` or `unix://`), shared by
          every NixGuard process of one installation. Used when
          {option}`services.nixguard.redis.createLocally` is false. A password
          belongs in {option}`services.nixguard.environmentFile`, not here: this
          value ends up in the Nix store.
        '';
      };
    };

    checkConfig = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Whether to validate the generated config file with `nixguard config check`
        at build time. Disable only when cross-compiling, where the package cannot
        run on the build machine.
      '';
    };

    sshKeyFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/keys/nixguard-ssh-key";
      description = ''
        SSH private key NixGuard uses to reach the hosts (systemd probes and unit
        restarts). Handed to the service with `LoadCredential=`, so it stays outside
        the Nix store and readable only by the service; the generated config points
        `ssh.identityFile` at the credential. nixops4 uses its own SSH setup.
      '';
    };

    knownHostsFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/etc/nixguard/known_hosts";
      description = ''
        An OpenSSH `known_hosts` file with the host keys of every host NixGuard
        probes. Mutually exclusive with {option}`services.nixguard.knownHosts`.
      '';
    };

    knownHosts = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.submodule (
          { name, ... }:
          {
            options = {
              hostNames = lib.mkOption {
                type = lib.types.listOf lib.types.str;
                default = [ name ];
                defaultText = lib.literalExpression "[ name ]";
                description = "Host names and addresses this key belongs to.";
              };
              publicKey = lib.mkOption {
                type = lib.types.str;
                example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...";
                description = "The host's public key, as in `known_hosts`.";
              };
            };
          }
        )
      );
      default = { };
      example = lib.literalExpression ''
        {
          mastodon = {
            hostNames = [ "mastodon" "10.0.0.11" ];
            publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...";
          };
        }
      '';
      description = ''
        Host keys of the probed hosts, written to a `known_hosts` file in the Nix
        store (public keys are not secret). Mutually exclusive with
        {option}`services.nixguard.knownHostsFile`.
      '';
    };

    apiTokenFiles = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.submodule {
          options = {
            file = lib.mkOption {
              type = lib.types.path;
              description = "File holding the bearer token (outside the Nix store).";
            };
            scope = lib.mkOption {
              type = lib.types.enum [
                "read"
                "admin"
              ];
              default = "read";
              description = ''
                `read` may query state, hosts, events and metrics; `admin` may also
                pause, resume, reconcile and clear quarantine.
              '';
            };
          };
        }
      );
      default = { };
      example = lib.literalExpression ''
        {
          admin = { file = "/run/keys/nixguard-admin-token"; scope = "admin"; };
          grafana = { file = "/run/keys/nixguard-read-token"; };
        }
      '';
      description = ''
        API tokens by name. Each file is handed to the service with
        `LoadCredential=` and listed in the generated `api.tokens`; the name appears
        in the audit trail of manual actions.
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/keys/nixguard.env";
      description = ''
        File with environment variables for the service, in systemd's
        `EnvironmentFile=` format, for secrets that must not enter the Nix store
        (for example a Redis password, or credentials nixops4 reads).
      '';
    };

    settings = lib.mkOption {
      default = { };
      description = ''
        NixGuard's configuration, written as JSON and passed to
        `nixguard serve --config`. Every key of the NixGuard config file is
        accepted; see docs/configuration.md of NixGuard. The module fills in
        the listen address, Redis URL, state paths, SSH identity, known hosts
        and API tokens from its own options.
      '';
      example = lib.literalExpression ''
        {
          remediation.mode = "enforce";
          deployments.fediversity = {
            flake = "/var/lib/fediversity/deployment";
            target = "fediversity";
            fediversity = { domain = "example.org"; mastodon.enable = true; };
            hosts.mastodon = { address = "10.0.0.11"; services = [ "mastodon" ]; };
          };
        }
      '';
      type = lib.types.submodule {
        freeformType = format.type;
        options = {
          api.listen = lib.mkOption {
            type = lib.types.str;
            default = listen;
            defaultText = lib.literalExpression ''"''${listenAddress}:''${toString port}"'';
            description = ''
              `HOST:PORT` of the API and metrics listener. Set
              {option}`services.nixguard.listenAddress` and
              {option}`services.nixguard.port` instead, so the firewall matches.
            '';
          };
          redis.url = lib.mkOption {
            type = lib.types.nullOr lib.types.str;
            default =
              if cfg.redis.createLocally then "unix://${redisServer.unixSocket}" else cfg.redis.url;
            defaultText = lib.literalExpression ''
              if redis.createLocally then "unix://''${config.services.redis.servers.nixguard.unixSocket}"
              else redis.url
            '';
            description = "Redis NixGuard keeps its queue, state and events in.";
          };
          state.dir = lib.mkOption {
            type = lib.types.str;
            default = stateDir;
            readOnly = true;
            description = "NixGuard's state directory (systemd `StateDirectory=`).";
          };
          state.runtimeDir = lib.mkOption {
            type = lib.types.str;
            default = runtimeDir;
            readOnly = true;
            description = "Runtime directory for SSH control sockets (systemd `RuntimeDirectory=`).";
          };
          worker.shutdownGrace = lib.mkOption {
            type = durationType;
            default = "2m";
            description = ''
              How long a stopping NixGuard lets a running `nixops4 apply` finish.
              The unit's `TimeoutStopSec=` is derived from it.
            '';
          };
          nixops4.killGrace = lib.mkOption {
            type = durationType;
            default = "30s";
            description = "Time between SIGTERM and SIGKILL for a nixops4 child that must stop.";
          };
        };
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.package != null;
        message = "services.nixguard.package is null: set it, or use the module from NixGuard's flake on a system it builds for (${system}).";
      }
      {
        assertion = cfg.nixops4Package != null;
        message = "services.nixguard.nixops4Package is null: nixops4 is not in nixpkgs; set it from your nixops4 flake input.";
      }
      {
        assertion = cfg.redis.createLocally != (cfg.redis.url != null);
        message = "services.nixguard: set exactly one of redis.createLocally = true or redis.url.";
      }
      {
        assertion = cfg.knownHostsFile == null || cfg.knownHosts == { };
        message = "services.nixguard: knownHostsFile and knownHosts are mutually exclusive.";
      }
      {
        assertion = (cfg.settings.deployments or { }) != { };
        message = "services.nixguard.settings.deployments is empty: NixGuard needs at least one deployment to watch.";
      }
      {
        assertion = cfg.openFirewall -> cfg.settings.api.listen == listen;
        message = "services.nixguard: settings.api.listen differs from listenAddress/port; set those so openFirewall opens the right port.";
      }
    ];

    services.nixguard = {
      package = lib.mkDefault (
        pkgs.nixguard or (if self != null then self.packages.${system}.default or null else null)
      );
      nixops4Package = lib.mkDefault (
        pkgs.nixops4 or (if nixops4 != null then nixops4.packages.${system}.default or null else null)
      );

      settings = {
        api.tokens = lib.mapAttrsToList (name: token: {
          inherit name;
          inherit (token) scope;
          file = "${credentialsDir}/api-token-${name}";
        }) cfg.apiTokenFiles;
        ssh.identityFile = lib.mkIf (cfg.sshKeyFile != null) "${credentialsDir}/ssh-key";
        ssh.knownHostsFile =
          if cfg.knownHostsFile != null then
            "${credentialsDir}/known-hosts"
          else
            lib.mkIf (cfg.knownHosts != { }) "${pkgs.writeText "nixguard-known-hosts" knownHostsText}";
        nixops4.command = lib.mkIf (cfg.nixops4Package != null) (
          lib.mkDefault (lib.getExe' cfg.nixops4Package "nixops4")
        );
      };
    };

    services.redis.servers.nixguard = lib.mkIf cfg.redis.createLocally {
      enable = true;
      # Queued jobs, leases and the event stream survive a Redis restart.
      appendOnly = lib.mkDefault true;
    };

    users.users.nixguard = {
      description = "NixGuard daemon";
      group = "nixguard";
      # A static user: it owns the SSH identity, known_hosts and state that must
      # keep one owner across restarts and upgrades.
      isSystemUser = true;
      home = stateDir;
    };
    users.groups.nixguard = { };

    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];

    systemd.services.nixguard = {
      description = "NixGuard fleet reconciliation daemon";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ lib.optional cfg.redis.createLocally "redis-nixguard.service";
      requires = lib.optional cfg.redis.createLocally "redis-nixguard.service";

      # What the daemon and nixops4 call: nixops4 builds with nix (through the
      # nix-daemon), copies closures and switches hosts over ssh, fetches flakes
      # with git.
      path = [
        cfg.nixops4Package
        config.nix.package
        config.programs.ssh.package
        pkgs.git
      ];

      environment = {
        HOME = stateDir; # ssh, nix and git write below $HOME
        NODE_ENV = "production";
      };

      # A bounded restart rate: five failed starts in five minutes and systemd
      # gives up (NixGuardDown then fires) instead of hammering Redis or hosts.
      startLimitIntervalSec = 300;
      startLimitBurst = 5;

      serviceConfig = {
        Type = "simple";
        ExecStart = "${lib.getExe' cfg.package "nixguard"} serve --config ${configFile}";
        User = "nixguard";
        Group = "nixguard";
        SupplementaryGroups = lib.optional cfg.redis.createLocally redisServer.user;
        StateDirectory = "nixguard";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "nixguard";
        RuntimeDirectoryMode = "0750";
        WorkingDirectory = stateDir;

        LoadCredential =
          lib.optional (cfg.sshKeyFile != null) "ssh-key:${cfg.sshKeyFile}"
          ++ lib.optional (cfg.knownHostsFile != null) "known-hosts:${cfg.knownHostsFile}"
          ++ lib.mapAttrsToList (name: token: "api-token-${name}:${token.file}") cfg.apiTokenFiles;
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;

        Restart = "on-failure";
        RestartSec = "10s";
        # "mixed": SIGTERM goes to NixGuard alone, which stops taking jobs and gives a
        # running nixops4 apply worker.shutdownGrace to finish (with "control-group"
        # systemd would SIGTERM nixops4 at once and cut every apply short). When
        # TimeoutStopSec runs out, every process left in the cgroup (nixops4, nix,
        # ssh control masters) is SIGKILLed: nothing outlives the service either way.
        KillMode = "mixed";
        # NixGuard gives a running apply worker.shutdownGrace, then its children
        # nixops4.killGrace; a minute on top covers closing Redis and the API.
        TimeoutStopSec =
          durationSeconds cfg.settings.worker.shutdownGrace
          + durationSeconds cfg.settings.nixops4.killGrace
          + 60;

        # Hardening, as for other Node services in nixpkgs.
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        NoNewPrivileges = true;
        LockPersonality = true;
        # V8 compiles JavaScript to machine code at run time: W^X would kill Node.
        MemoryDenyWriteExecute = false;
        PrivateDevices = true;
        PrivateTmp = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        # Not ProcSubset = "pid": host facts of the local transport read
        # /proc/loadavg and /proc/meminfo.
        RemoveIPC = true;
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        # AF_UNIX: the Redis socket and the nix-daemon socket.
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        SystemCallArchitectures = "native";
        # Not "~@resources": nix raises its own stack limit with setrlimit().
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        UMask = "0077";

        # Relaxations for nixops4 and nix, beyond the state directory:
        # - the flake directories: nixops4 runs in them and may rewrite flake.lock;
        #   "-" skips one that does not exist yet instead of failing the start.
        # - the nix-daemon socket: nix builds through the daemon; the store itself
        #   stays read-only (ProtectSystem = "strict" leaves /nix/store readable).
        ReadWritePaths = [ "/nix/var/nix/daemon-socket" ] ++ map (dir: "-${dir}") (
          lib.filter (dir: dir != null) flakeDirs
        );
      };
    };
  };

  meta.maintainers = [ ];
}

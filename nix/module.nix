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

  # Durations as NixGuard reads them (src/config/duration.ts): one or more
  # <number><unit> parts, the number with an optional fraction ("90s", "1h30m", "1.5m").
  durationPart = "([0-9]+(\\.[0-9]+)?)(ms|s|m|h|d)";
  durationType = lib.types.strMatching "(${durationPart})+";
  # Whole seconds, rounded up, so TimeoutStopSec never falls short of a grace.
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
      parts = lib.filter lib.isList (builtins.split durationPart text);
      totalMs = lib.foldl' (
        sum: part: sum + builtins.fromJSON (lib.elemAt part 0) * unitMs.${lib.elemAt part 2}
      ) 0 parts;
    in
    builtins.ceil (totalMs / 1000.0);

  listen =
    if lib.hasInfix ":" cfg.listenAddress then
      "[${cfg.listenAddress}]:${toString cfg.port}"
    else
      "${cfg.listenAddress}:${toString cfg.port}";

  knownHostsText = lib.concatMapStrings (
    entry: "${lib.concatStringsSep "," entry.hostNames} ${entry.publicKey}\n"
  ) (lib.attrValues cfg.knownHosts);

  # The stable paths the service reads: a settings change replaces what they point
  # to, not the unit's ExecStart, so NixOS can reload NixGuard instead of restarting it.
  configPath = "/etc/nixguard/config.json";
  knownHostsPath = "/etc/nixguard/known_hosts";

  # NixGuard's schema has optional keys but no nulls: drop unset values.
  settingsJson = lib.filterAttrsRecursive (_: value: value != null) cfg.settings;
  uncheckedConfigFile = format.generate "nixguard-unchecked.json" settingsJson;

  # What NixGuard reads only at start (START_ONLY in src/config/start-only.ts): a
  # reload that changes one of these is refused, so a change here must restart the
  # service. Everything else is applied by a reload (SIGHUP).
  startOnlyPaths = [
    [ "redis" ]
    [ "state" ]
    [ "log" ]
    [ "api" ]
    [
      "probes"
      "interval"
    ]
    [
      "probes"
      "timeout"
    ]
    [
      "probes"
      "jitter"
    ]
    [
      "probes"
      "concurrency"
    ]
    [
      "probes"
      "sharing"
    ]
    [ "nixops4" ]
    [ "worker" ]
    [ "leader" ]
  ];
  startOnlySettings = map (path: {
    path = lib.concatStringsSep "." path;
    value = lib.attrByPath path null settingsJson;
  }) startOnlyPaths;

  # Checked at build time, so a bad config fails `nixos-rebuild`, not the service.
  # `config check --no-files` reads only this file (credential paths need not exist yet).
  checkedConfigFile =
    pkgs.runCommand "nixguard.json"
      {
        preferLocalBuild = true;
        nativeBuildInputs = [ cfg.package ];
      }
      ''
        nixguard config check --no-files ${uncheckedConfigFile} || {
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

  # Hosts NixGuard reaches through the local transport (the rule of
  # src/config/desired.ts: `transport`, else local for the address "localhost"), and
  # the units the config names for them: the units `systemctl restart` may touch.
  transportOf =
    host: host.transport or (if (host.address or "") == "localhost" then "local" else "ssh");
  localHosts = lib.filter (host: transportOf host == "local") (
    lib.concatMap (deployment: lib.attrValues (deployment.hosts or { })) (
      lib.attrValues (cfg.settings.deployments or { })
    )
  );
  namedLocalUnits = lib.unique (
    lib.concatMap (
      host:
      host.units or [ ]
      ++ host.oneshotUnits or [ ]
      ++ lib.concatMap (check: check.units or [ ]) (host.http or [ ])
    ) localHosts
  );
  localServiceHosts = lib.filter (host: (host.services or [ ]) != [ ]) localHosts;

  # The local transport runs `systemctl restart` as the unprivileged nixguard user
  # under NoNewPrivileges: systemd asks polkit, which says no unless a rule allows it.
  # Only these units, only the restart verb, only this user.
  polkitRule = ''
    // services.nixguard: NixGuard's local transport restarts the units its config names.
    polkit.addRule(function (action, subject) {
      if (action.id == "org.freedesktop.systemd1.manage-units" &&
          subject.user == "nixguard" &&
          action.lookup("verb") == "restart" &&
          ${builtins.toJSON cfg.localRestartUnits}.indexOf(action.lookup("unit")) >= 0) {
        return polkit.Result.YES;
      }
    });
  '';

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

      sentinels = lib.mkOption {
        type = lib.types.nullOr (
          lib.types.submodule {
            options = {
              addresses = lib.mkOption {
                type = lib.types.nonEmptyListOf lib.types.str;
                example = [
                  "10.0.0.5:26379"
                  "10.0.0.6:26379"
                  "10.0.0.7:26379"
                ];
                description = "`HOST:PORT` (`[IPv6]:PORT`) of the Sentinels NixGuard asks for the master.";
              };
              masterName = lib.mkOption {
                type = lib.types.str;
                default = "nixguard";
                description = "The master's name in the Sentinels' `sentinel monitor` line.";
              };
              passwordFile = lib.mkOption {
                type = lib.types.nullOr lib.types.path;
                default = null;
                example = "/run/keys/redis-password";
                description = ''
                  File holding the Redis servers' password (their `requirepass`).
                  Handed to the service with `LoadCredential=`, so it stays outside
                  the Nix store and NixGuard's own user need not read it.
                '';
              };
            };
          }
        );
        default = null;
        description = ''
          Redis behind Redis Sentinel, shared by every NixGuard process of one
          installation: NixGuard asks the Sentinels for the master and follows a
          failover. Used when {option}`services.nixguard.redis.createLocally` is
          false and {option}`services.nixguard.redis.url` is null.
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

    nixops4 = {
      sshKeyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = cfg.sshKeyFile;
        defaultText = lib.literalExpression "config.services.nixguard.sshKeyFile";
        example = "/run/keys/nixops4-deploy-key";
        description = ''
          SSH private key nixops4 uses to reach the hosts it deploys (`nix copy --to
          ssh-ng://…` and the `ssh` that switches a host). nixops4 runs that ssh
          itself; the module hands the key over with `LoadCredential=` and sets
          NixGuard's `nixops4.ssh.identityFile` to it: NixGuard writes an ssh_config
          for nixops4 and puts an `ssh` wrapper reading it first on nixops4's PATH,
          which both honour (see docs/operations.md). `null` leaves nixops4 to the
          user's own ssh setup (`~/.ssh` in {file}`/var/lib/nixguard`).
        '';
      };

      knownHostsFile = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = cfg.knownHostsFile;
        defaultText = lib.literalExpression "config.services.nixguard.knownHostsFile";
        example = "/etc/ssh/ssh_known_hosts";
        description = ''
          An OpenSSH `known_hosts` file for nixops4's ssh, handed over with
          `LoadCredential=` and set as NixGuard's `nixops4.ssh.knownHostsFile`
          (its ssh_config's `GlobalKnownHostsFile`, with
          {file}`/etc/ssh/ssh_known_hosts`). `null`: the hosts of
          {option}`services.nixguard.knownHosts`, when there are any. (nixops4-nixos
          also passes each machine's `ssh.hostPublicKey` itself.)
        '';
      };
    };

    localRestartUnits = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = namedLocalUnits;
      defaultText = lib.literalMD ''
        the units the settings name (`units`, `oneshotUnits`, `http[].units`) for hosts
        with `transport = "local"` (or the address `localhost`)
      '';
      example = [ "nginx.service" ];
      description = ''
        Units NixGuard may restart on this machine (its local transport). The module
        ships a polkit rule that lets the `nixguard` user run `systemctl restart` on
        these units and nothing else. A local host's catalog `services` expand to
        units the settings do not name: list those here.
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
          nixops4.interruptGrace = lib.mkOption {
            type = durationType;
            default = "30s";
            description = "Time between SIGINT and SIGTERM for a nixops4 child that must stop.";
          };
          nixops4.killGrace = lib.mkOption {
            type = durationType;
            default = "30s";
            description = "Time between SIGTERM and SIGKILL for a nixops4 child that must stop.";
          };
          nixops4.stragglerGrace = lib.mkOption {
            type = durationType;
            default = "5s";
            description = "Time left to processes a finished nixops4 leaves behind before they are killed.";
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
        assertion =
          lib.count lib.id [
            cfg.redis.createLocally
            (cfg.redis.url != null)
            (cfg.redis.sentinels != null)
          ] == 1;
        message = "services.nixguard: set exactly one of redis.createLocally = true, redis.url or redis.sentinels.";
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
        # The module runs Redis itself (or points at yours); it does not ship the
        # redis-server NixGuard would start under its state directory without one.
        assertion = cfg.settings.redis.url != null || (cfg.settings.redis.sentinels or null) != null;
        message = "services.nixguard.settings.redis.url is null: keep redis.createLocally = true, or set redis.url or redis.sentinels.";
      }
      {
        assertion = cfg.openFirewall -> cfg.settings.api.listen == listen;
        message = "services.nixguard: settings.api.listen differs from listenAddress/port; set those so openFirewall opens the right port.";
      }
    ];

    warnings = map (
      host:
      "services.nixguard: the local host ${host.address} checks catalog services (${lib.concatStringsSep ", " host.services}); "
      + "their units are in the polkit rule only if listed in services.nixguard.localRestartUnits."
    ) localServiceHosts;

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
        redis.sentinels = lib.mkIf (cfg.redis.sentinels != null) (
          {
            inherit (cfg.redis.sentinels) addresses masterName;
          }
          // lib.optionalAttrs (cfg.redis.sentinels.passwordFile != null) {
            passwordFile = "${credentialsDir}/redis-password";
          }
        );
        ssh.identityFile = lib.mkIf (cfg.sshKeyFile != null) "${credentialsDir}/ssh-key";
        ssh.knownHostsFile =
          if cfg.knownHostsFile != null then
            "${credentialsDir}/known-hosts"
          else
            lib.mkIf (cfg.knownHosts != { }) knownHostsPath;
        # nixops4's own ssh: NixGuard writes its ssh_config and ssh wrapper (one mechanism).
        nixops4.ssh.identityFile = lib.mkIf (
          cfg.nixops4.sshKeyFile != null
        ) "${credentialsDir}/nixops4-ssh-key";
        nixops4.ssh.knownHostsFile =
          if cfg.nixops4.knownHostsFile != null then
            "${credentialsDir}/nixops4-known-hosts"
          else
            lib.mkIf (cfg.knownHosts != { }) knownHostsPath;
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

    environment.etc."nixguard/config.json".source = configFile;
    # Read by ssh at each connection: a change needs neither reload nor restart.
    environment.etc."nixguard/known_hosts" = lib.mkIf (cfg.knownHosts != { }) {
      text = knownHostsText;
    };

    security.polkit = lib.mkIf (cfg.localRestartUnits != [ ]) {
      enable = true;
      extraConfig = polkitRule;
    };

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
        # nixops4 evaluates the deployment's flake through nix: flakes must be on for
        # it whatever the machine's nix.conf says ("extra-" adds to the list there).
        # NixGuard hands NIX_* variables on to nixops4.
        NIX_CONFIG = "extra-experimental-features = nix-command flakes";
      };

      # A bounded restart rate: five failed starts in five minutes and systemd
      # gives up (NixGuardDown then fires) instead of hammering Redis or hosts.
      startLimitIntervalSec = 300;
      startLimitBurst = 5;

      # A settings change is a reload (SIGHUP: NixGuard re-reads /etc/nixguard/config.json
      # and keeps a running apply going); a change of what NixGuard reads only at start
      # is a restart, as is any change to the unit itself (package, credentials, paths).
      reloadTriggers = [ configFile ];
      restartTriggers = [ (builtins.toJSON startOnlySettings) ];

      serviceConfig = {
        Type = "simple";
        ExecStart = "${lib.getExe' cfg.package "nixguard"} serve --config ${configPath}";
        ExecReload = "${lib.getExe' pkgs.coreutils "kill"} -HUP $MAINPID";
        User = "nixguard";
        Group = "nixguard";
        SupplementaryGroups = lib.optional cfg.redis.createLocally redisServer.group;
        StateDirectory = "nixguard";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "nixguard";
        RuntimeDirectoryMode = "0750";
        WorkingDirectory = stateDir;

        LoadCredential =
          lib.optional (cfg.sshKeyFile != null) "ssh-key:${cfg.sshKeyFile}"
          ++ lib.optional (cfg.knownHostsFile != null) "known-hosts:${cfg.knownHostsFile}"
          ++ lib.optional (cfg.nixops4.sshKeyFile != null) "nixops4-ssh-key:${cfg.nixops4.sshKeyFile}"
          ++ lib.optional (
            cfg.nixops4.knownHostsFile != null
          ) "nixops4-known-hosts:${cfg.nixops4.knownHostsFile}"
          ++ lib.optional (
            cfg.redis.sentinels != null && cfg.redis.sentinels.passwordFile != null
          ) "redis-password:${cfg.redis.sentinels.passwordFile}"
          ++ lib.mapAttrsToList (name: token: "api-token-${name}:${token.file}") cfg.apiTokenFiles;
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;

        Restart = "on-failure";
        RestartSec = "10s";
        # 78 (EX_CONFIG): the config is invalid; starting again cannot fix it.
        RestartPreventExitStatus = 78;
        # "mixed": SIGTERM goes to NixGuard alone, which stops taking jobs and gives a
        # running nixops4 apply worker.shutdownGrace to finish (with "control-group"
        # systemd would SIGTERM nixops4 at once and cut every apply short). When
        # TimeoutStopSec runs out, every process left in the cgroup (nixops4, nix,
        # ssh control masters) is SIGKILLed: nothing outlives the service either way.
        KillMode = "mixed";
        # NixGuard gives a running apply worker.shutdownGrace, then stops nixops4:
        # SIGINT, interruptGrace, SIGTERM, killGrace, SIGKILL, and stragglerGrace for
        # what it left behind; a minute on top covers closing Redis and the API.
        TimeoutStopSec =
          durationSeconds cfg.settings.worker.shutdownGrace
          + durationSeconds cfg.settings.nixops4.interruptGrace
          + durationSeconds cfg.settings.nixops4.killGrace
          + durationSeconds cfg.settings.nixops4.stragglerGrace
          + 60;

        # Hardening, as for other Node services in nixpkgs.
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        NoNewPrivileges = true;
        LockPersonality = true;
        # V8 compiles JavaScript to machine code at run time: W^X would kill Node.
        MemoryDenyWriteExecute = false;
        PrivateDevices = true;
        PrivateMounts = true;
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

        # Writable beyond the state directory: the flake directories (nixops4 runs in
        # them and may rewrite flake.lock); "-" skips one that does not exist yet
        # instead of failing the start. Not the nix-daemon socket: connecting to a
        # socket needs no writable mount (nix builds through the daemon while
        # ProtectSystem = "strict" keeps the store read-only), and a missing path
        # without "-" would stop the unit on a machine with nix.enable = false.
        ReadWritePaths = map (dir: "-${dir}") (lib.filter (dir: dir != null) flakeDirs);
      };
    };
  };

  meta = {
    doc = ./module.md;
    # NixOS accepts only entries of nixpkgs' lib.maintainers here; NixGuard has none
    # there yet.
    maintainers = [ ];
  };
}

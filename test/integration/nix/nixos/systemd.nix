# systemd.services as NixOS declares and renders them (nixos/lib/systemd-unit-options.nix,
# nixos/lib/systemd-lib.nix, nixos/modules/system/boot/systemd.nix): the unit options a
# service module sets, the [Unit] keys they become (X-Restart-Triggers and
# X-Reload-Triggers are files holding the triggers, so a changed trigger changes the
# unit), and the unit text switch-to-configuration compares.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption types;

  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # A unit option: lists from every definition are concatenated (repeatable keys such as
  # ExecStartPre), anything else must be defined once.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.isList (lib.head defs').value then
        lib.concatMap (
          def:
          if lib.isList def.value then
            def.value
          else
            throw "systemd unit option ${lib.showOption loc}: a mix of list and non-list definitions"
        ) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  unitNames = mkOption {
    default = [ ];
    type = types.listOf unitNameType;
  };

  triggerFile =
    kind: name: triggers:
    "${pkgs.writeText "${kind}-${name}" (
      lib.pipe triggers [
        lib.flatten
        (map (x: if lib.isPath x then "${x}" else x))
        toString
      ]
    )}";

  toOption =
    x:
    if x == true then
      "true"
    else if x == false then
      "false"
    else
      toString x;
  attrsToSection =
    section:
    lib.concatStrings (
      lib.concatLists (
        lib.mapAttrsToList (
          name: value: map (x: "${name}=${toOption x}\n") (if lib.isList value then value else [ value ])
        ) section
      )
    );

  serviceModule =
    {
      name,
      config,
      options,
      ...
    }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        description = mkOption {
          type = types.singleLineStr;
          default = "";
        };
        documentation = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        wantedBy = unitNames;
        requiredBy = unitNames;
        requires = unitNames;
        wants = unitNames;
        after = unitNames;
        before = unitNames;
        bindsTo = unitNames;
        partOf = unitNames;
        conflicts = unitNames;
        requisite = unitNames;
        onFailure = unitNames;
        unitConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
        };
        startLimitBurst = mkOption { type = types.int; };
        startLimitIntervalSec = mkOption { type = types.int; };
        restartTriggers = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        reloadTriggers = mkOption {
          type = types.listOf unitOption;
          default = [ ];
        };
        environment = mkOption {
          type = types.attrsOf (
            types.nullOr (
              types.oneOf [
                types.str
                types.path
                types.package
              ]
            )
          );
          default = { };
        };
        path = mkOption {
          type = types.listOf (
            types.oneOf [
              types.package
              types.str
            ]
          );
          default = [ ];
        };
        serviceConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
        };
        script = mkOption {
          type = types.lines;
          default = "";
        };
        restartIfChanged = mkOption {
          type = types.bool;
          default = true;
        };
        reloadIfChanged = mkOption {
          type = types.bool;
          default = false;
        };
        stopIfChanged = mkOption {
          type = types.bool;
          default = true;
        };
      };

      config = {
        unitConfig =
          lib.optionalAttrs (config.requires != [ ]) { Requires = toString config.requires; }
          // lib.optionalAttrs (config.wants != [ ]) { Wants = toString config.wants; }
          // lib.optionalAttrs (config.after != [ ]) { After = toString config.after; }
          // lib.optionalAttrs (config.before != [ ]) { Before = toString config.before; }
          // lib.optionalAttrs (config.bindsTo != [ ]) { BindsTo = toString config.bindsTo; }
          // lib.optionalAttrs (config.partOf != [ ]) { PartOf = toString config.partOf; }
          // lib.optionalAttrs (config.conflicts != [ ]) { Conflicts = toString config.conflicts; }
          // lib.optionalAttrs (config.requisite != [ ]) { Requisite = toString config.requisite; }
          // lib.optionalAttrs (config.restartTriggers != [ ]) {
            X-Restart-Triggers = triggerFile "X-Restart-Triggers" name config.restartTriggers;
          }
          // lib.optionalAttrs (config.reloadTriggers != [ ]) {
            X-Reload-Triggers = triggerFile "X-Reload-Triggers" name config.reloadTriggers;
          }
          // lib.optionalAttrs (config.description != "") { Description = config.description; }
          // lib.optionalAttrs (config.documentation != [ ]) {
            Documentation = toString config.documentation;
          }
          // lib.optionalAttrs (config.onFailure != [ ]) { OnFailure = toString config.onFailure; }
          // lib.optionalAttrs options.startLimitIntervalSec.isDefined {
            StartLimitIntervalSec = toString config.startLimitIntervalSec;
          }
          // lib.optionalAttrs options.startLimitBurst.isDefined {
            StartLimitBurst = toString config.startLimitBurst;
          };
        # The default path of every NixOS service comes after the module's own.
        path = lib.mkAfter [
          pkgs.coreutils
          pkgs.findutils
          pkgs.gnugrep
          pkgs.gnused
          pkgs.systemd
        ];
        environment.PATH = lib.mkIf (config.path != [ ]) "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
        serviceConfig = lib.mkIf (config.script != "") {
          ExecStart = "${pkgs.writeShellScript "${name}-start" config.script}";
        };
      };
    };

  serviceText =
    def:
    let
      env = config.systemd.globalEnvironment // def.environment;
    in
    ''
      [Unit]
      ${attrsToSection def.unitConfig}
      [Service]
    ''
    + lib.concatMapStrings (
      n: lib.optionalString (env.${n} != null) "Environment=${builtins.toJSON "${n}=${env.${n}}"}\n"
    ) (lib.attrNames env)
    + (
      if def.reloadIfChanged then
        "X-ReloadIfChanged=true\n"
      else if !def.restartIfChanged then
        "X-RestartIfChanged=false\n"
      else
        ""
    )
    + lib.optionalString (!def.stopIfChanged) "X-StopIfChanged=false\n"
    + attrsToSection def.serviceConfig
    + lib.optionalString (def.wantedBy != [ ]) ''

      [Install]
      WantedBy=${lib.concatStringsSep " " def.wantedBy}
    '';
in
{
  options.systemd = {
    services = mkOption {
      type = types.attrsOf (types.submodule serviceModule);
      default = { };
    };
    globalEnvironment = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.str
            types.path
            types.package
          ]
        )
      );
      default = { };
    };
    tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    units = mkOption {
      type = types.attrsOf types.unspecified;
      default = { };
      description = "The generated units: text and the unit file's derivation.";
    };
  };

  config.systemd.units = lib.mapAttrs' (
    name: def:
    let
      text = serviceText def;
    in
    lib.nameValuePair "${name}.service" {
      inherit text;
      unit = pkgs.runCommand "unit-${name}.service" {
        inherit text;
        passAsFile = [ "text" ];
      } ''mkdir -p "$out" && mv "$textPath" "$out/${name}.service"'';
    }
  ) (lib.filterAttrs (_: def: def.enable) config.systemd.services);
}

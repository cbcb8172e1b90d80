# The slice of NixOS that NixGuard's module and its VM test write to, declared as
# nixpkgs declares it (types and defaults from the nixpkgs modules named below), so
# `lib.evalModules` checks the module as NixOS would: an undeclared option, a wrong
# type or a conflicting definition is an error here too. No nixpkgs is available to
# the tests (only its lib), hence this slice instead of nixos/modules.
#
#   evalNixOS = import ./nixos { inherit lib pkgs; };
#   (evalNixOS [ module configuration ]).config
{ lib, pkgs }:

modules:

let
  inherit (lib) mkOption types;

  # modules/generic/meta-maintainers.nix: an entry of lib.maintainers, recorded per file.
  maintainer = lib.mkOptionType {
    name = "maintainer";
    check = entry: lib.elem entry (lib.attrValues lib.maintainers);
    merge = _loc: defs: lib.listToAttrs [ (lib.nameValuePair (lib.last defs).file (lib.last defs).value) ];
  };

  slice =
    { config, ... }:
    {
      options = {
        # nixos/modules/misc/assertions.nix
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };

        # nixos/modules/misc/meta.nix
        meta.maintainers = mkOption {
          # Not a list once merged: the maintainers by the file that named them.
          type = types.listOf maintainer // {
            merge =
              loc: defs:
              lib.zipAttrs (
                lib.concatLists (
                  lib.imap1 (
                    n: def:
                    lib.imap1 (
                      m: value:
                      maintainer.merge (loc ++ [ "[${toString n}-${toString m}]" ]) [
                        {
                          inherit (def) file;
                          inherit value;
                        }
                      ]
                    ) def.value
                  ) defs
                )
              );
          };
          default = [ ];
        };
        meta.doc = mkOption {
          type = types.path // {
            merge = _loc: defs: defs;
          };
        };

        # nixos/modules/config/users-groups.nix (and openssh's authorizedKeys)
        users.users = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule (
              { name, ... }:
              {
                options = {
                  name = mkOption {
                    type = types.str;
                    default = name;
                  };
                  description = mkOption {
                    type = types.str;
                    default = "";
                  };
                  group = mkOption {
                    type = types.str;
                    default = "";
                  };
                  extraGroups = mkOption {
                    type = types.listOf types.str;
                    default = [ ];
                  };
                  isSystemUser = mkOption {
                    type = types.bool;
                    default = false;
                  };
                  isNormalUser = mkOption {
                    type = types.bool;
                    default = false;
                  };
                  home = mkOption {
                    type = types.path;
                    default = "/var/empty";
                  };
                  createHome = mkOption {
                    type = types.bool;
                    default = false;
                  };
                  openssh.authorizedKeys.keys = mkOption {
                    type = types.listOf types.singleLineStr;
                    default = [ ];
                  };
                };
              }
            )
          );
        };
        users.groups = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule (
              { name, ... }:
              {
                options.name = mkOption {
                  type = types.str;
                  default = name;
                };
                options.members = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
              }
            )
          );
        };

        # nixos/modules/config/system-path.nix, nixos/modules/system/etc/etc.nix
        environment.systemPackages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        environment.etc = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule (
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
                  target = mkOption {
                    type = types.str;
                    default = name;
                  };
                  text = mkOption {
                    type = types.nullOr types.lines;
                    default = null;
                  };
                  source = mkOption { type = types.path; };
                  mode = mkOption {
                    type = types.str;
                    default = "symlink";
                  };
                  user = mkOption {
                    type = types.str;
                    default = "+0";
                  };
                  group = mkOption {
                    type = types.str;
                    default = "+0";
                  };
                };
                config.source = lib.mkIf (config.text != null) (
                  lib.mkDerivedConfig options.text (pkgs.writeText "etc-${lib.replaceStrings [ "/" ] [ "-" ] name}")
                );
              }
            )
          );
        };

        # nixos/modules/services/networking/firewall.nix
        networking.firewall.allowedTCPPorts = mkOption {
          type = types.listOf types.port;
          default = [ ];
        };
        networking.hostName = mkOption {
          type = types.str;
          default = "nixos";
        };

        # nixos/modules/services/system/nix-daemon.nix, nixos/modules/config/nix.nix
        nix.enable = mkOption {
          type = types.bool;
          default = true;
        };
        nix.package = mkOption {
          type = types.package;
          default = pkgs.nix;
        };
        nix.settings = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };

        # nixos/modules/programs/ssh.nix
        programs.ssh.package = mkOption {
          type = types.package;
          default = pkgs.openssh;
        };
        programs.ssh.extraConfig = mkOption {
          type = types.lines;
          default = "";
        };

        # nixos/modules/services/networking/ssh/sshd.nix
        services.openssh.enable = mkOption {
          type = types.bool;
          default = false;
        };
        services.openssh.hostKeys = mkOption {
          type = types.listOf types.attrs;
          default = [ ];
        };

        # nixos/modules/security/polkit.nix
        security.polkit.enable = mkOption {
          type = types.bool;
          default = false;
        };
        security.polkit.extraConfig = mkOption {
          type = types.lines;
          default = "";
        };

        # nixos/modules/services/databases/redis.nix
        services.redis.servers = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule (
              { config, name, ... }:
              let
                redisName = if name == "" then "redis" else "redis-${name}";
              in
              {
                options = {
                  enable = mkOption {
                    type = types.bool;
                    default = false;
                  };
                  user = mkOption {
                    type = types.str;
                    default = redisName;
                  };
                  group = mkOption {
                    type = types.str;
                    default = config.user;
                  };
                  port = mkOption {
                    type = types.port;
                    default = if name == "" then 6379 else 0;
                  };
                  unixSocket = mkOption {
                    type = types.nullOr types.path;
                    default = "/run/${redisName}/redis.sock";
                  };
                  unixSocketPerm = mkOption {
                    type = types.int;
                    default = 660;
                  };
                  appendOnly = mkOption {
                    type = types.bool;
                    default = false;
                  };
                };
              }
            )
          );
        };

        # nixos/modules/system/activation/top-level.nix, specialisation.nix, and what a
        # test machine's configuration sets.
        system.stateVersion = mkOption {
          type = types.str;
          default = lib.trivial.release;
        };
        system.build.toplevel = mkOption {
          type = types.package;
          readOnly = true;
        };
        specialisation = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule {
              options.configuration = mkOption {
                type = types.deferredModule;
                default = { };
              };
            }
          );
        };
        boot.loader.grub.enable = mkOption {
          type = types.bool;
          default = true;
        };
        fileSystems = mkOption {
          type = types.attrsOf types.attrs;
          default = { };
        };
      };

      # A stand-in for the system closure: what the switch reads (units, /etc).
      config.system.build.toplevel = pkgs.runCommand "nixos-system-${config.networking.hostName}" {
        units = builtins.toJSON (lib.mapAttrs (_: unit: unit.text) config.systemd.units);
        etc = builtins.toJSON (lib.mapAttrs (_: entry: "${entry.source}") config.environment.etc);
        specialisations = builtins.toJSON (
          lib.mapAttrs (
            _: spec:
            let
              # As NixOS does: the parent configuration with the specialisation's on top.
              child = evalNixOS (
                modules
                ++ [
                  spec.configuration
                  { specialisation = lib.mkForce { }; }
                ]
              );
            in
            "${child.config.system.build.toplevel}"
          ) config.specialisation
        );
      } "stand-in";
    };

  evalNixOS =
    modules':
    lib.evalModules {
      modules = [
        slice
        ./systemd.nix
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules';
    };
in
evalNixOS modules

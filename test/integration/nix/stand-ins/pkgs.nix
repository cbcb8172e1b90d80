# Stand-ins for the nixpkgs functions and packages NixGuard's Nix files use, for
# evaluation without nixpkgs (only its lib is here). Each returns what the real one
# returns, as far as evaluation can tell: a derivation with the same name and the
# attributes the real builder hands to `derivation` (`value` for formats.json, `text`
# for writeText, `urls` and `outputHash` for fetchurl), `meta`, `passthru` merged
# into the result, `override` and `overrideAttrs`. Nothing is ever built: the
# builder is a placeholder, and the tests evaluate with --readonly-mode.
#
# Behaviour that matters to the tests is modelled on nixpkgs' own:
# - importNpmLock (pkgs/build-support/node/import-npm-lock): an entry with an http(s)
#   `resolved` becomes a fixed-output fetch of that URL checked against its
#   `integrity`, written back as `resolved = "file:<store path>"`; an entry without
#   `resolved` is left as it is; every direct dependency in package.json is replaced
#   by its entry's `resolved` (the real one fails there with "attribute 'resolved'
#   missing" when an entry has none). Not modelled: git and `latest` dependencies
#   (this project's lock has none). passthru.sources and passthru.packageLock show
#   what it fetched and what it wrote.
# - pkgs.nixos and testers.runNixOSTest evaluate configurations against the slice of
#   NixOS in ../nixos.
{
  lib,
  system ? "x86_64-linux",
}:

lib.fix (
  pkgs:
  let
    placeholderBuilder = "/bin/sh";

    mkDerivation =
      args:
      let
        name = args.name or "${args.pname}-${args.version}";
        passthru = args.passthru or { };
        drv = derivation (
          removeAttrs args [
            "passthru"
            "meta"
            "pos"
          ]
          // {
            inherit name system;
            builder = placeholderBuilder;
            args = [
              "-c"
              "stand-in"
            ];
          }
        );
      in
      drv
      // passthru
      // {
        inherit name passthru;
        meta = args.meta or { };
        drvAttrs = args;
        overrideAttrs =
          f:
          mkDerivation (
            args // (if lib.isFunction (f args) then f args args else f args)
          );
      };

    package =
      name:
      mkDerivation {
        pname = name;
        version = "0-stand-in";
        meta.mainProgram = name;
      };

    runCommand =
      name: env: script:
      mkDerivation (
        env
        // {
          inherit name;
          buildCommand = script;
        }
      );

    writeTextFile =
      {
        name,
        text,
        executable ? false,
        destination ? "",
      }:
      mkDerivation {
        inherit
          name
          text
          executable
          destination
          ;
        passAsFile = [ "text" ];
      };

    importNpmLockFn =
      {
        npmRoot ? null,
        package ? lib.importJSON (npmRoot + "/package.json"),
        packageLock ? lib.importJSON (npmRoot + "/package-lock.json"),
        pname ? package.name or "unknown",
        version ? package.version or "0.0.0",
      }:
      let
        fetchEntry =
          module:
          let
            scheme = builtins.match "([a-z+]+)://.*" module.resolved;
          in
          if scheme == null then
            { outPath = npmRoot + "/${module.resolved}"; }
          else if lib.elem (lib.head scheme) [
            "http"
            "https"
          ] then
            pkgs.fetchurl {
              url = module.resolved;
              hash = module.integrity;
            }
          else
            throw "stand-in importNpmLock: ${module.resolved}: only http(s) and relative sources are modelled";
        sources = lib.mapAttrs (_: fetchEntry) (lib.filterAttrs (_: m: m ? resolved) packageLock.packages);
        written = packageLock // {
          packages = lib.mapAttrs (
            path: module:
            removeAttrs module [
              "link"
              "funding"
            ]
            // lib.optionalAttrs (sources ? ${path}) { resolved = "file:${sources.${path}}"; }
          ) packageLock.packages;
        };
        pinned = lib.mapAttrs (name: _: written.packages."node_modules/${name}".resolved);
        packageJson =
          package
          // lib.optionalAttrs (package ? dependencies) { dependencies = pinned package.dependencies; }
          // lib.optionalAttrs (package ? devDependencies) {
            devDependencies = pinned package.devDependencies;
          };
      in
      runCommand "${pname}-${version}-sources" {
        package = builtins.toJSON packageJson;
        packageLock = builtins.toJSON written;
        passAsFile = [
          "package"
          "packageLock"
        ];
        passthru = {
          inherit sources;
          packageLock = written;
        };
      } "stand-in";
  in
  {
    inherit lib;
    stdenv = {
      inherit mkDerivation;
      hostPlatform = {
        inherit system;
        isLinux = lib.hasSuffix "-linux" system;
      };
    };
    callPackage = lib.callPackageWith pkgs;
    path = ./nixpkgs-path;

    inherit runCommand writeTextFile;
    writeText = name: text: writeTextFile { inherit name text; };
    writeShellScript =
      name: text:
      writeTextFile {
        inherit name;
        executable = true;
        text = "#!/bin/sh\n${text}";
      };
    writeShellScriptBin =
      name: text:
      writeTextFile {
        inherit name;
        executable = true;
        destination = "/bin/${name}";
        text = "#!/bin/sh\n${text}";
      }
      // {
        meta.mainProgram = name;
      };

    formats.json =
      { }:
      {
        type =
          let
            valueType =
              lib.types.nullOr (
                lib.types.oneOf [
                  lib.types.bool
                  lib.types.int
                  lib.types.float
                  lib.types.str
                  lib.types.path
                  (lib.types.attrsOf valueType)
                  (lib.types.listOf valueType)
                ]
              )
              // {
                description = "JSON value";
              };
          in
          valueType;
        generate =
          name: value:
          runCommand name {
            value = builtins.toJSON value;
            passAsFile = [ "value" ];
            preferLocalBuild = true;
          } ''jq . "$valuePath" > $out'';
      };

    fetchurl =
      {
        url,
        hash,
        name ? baseNameOf url,
      }:
      derivation {
        inherit name system;
        builder = placeholderBuilder;
        urls = [ url ];
        outputHash = hash;
        outputHashMode = "flat";
      };

    importNpmLock = {
      __functor = _: importNpmLockFn;
      npmConfigHook = package "npm-config-hook";
    };

    buildNpmPackage =
      args:
      mkDerivation (
        removeAttrs args [
          "nodejs"
          "npmConfigHook"
        ]
        // {
          nativeBuildInputs = (args.nativeBuildInputs or [ ]) ++ [
            (args.nodejs or pkgs.nodejs)
            (args.npmConfigHook or (package "npm-config-hook"))
          ];
          npmDeps = args.npmDeps or (throw "stand-in buildNpmPackage: npmDeps (or npmDepsHash) is required");
        }
      );

    nodejs_22 = package "nodejs" // {
      meta.platforms = lib.platforms.linux ++ lib.platforms.darwin;
    };
    nodejs = pkgs.nodejs_22;

    mkShell = args: mkDerivation ({ name = "nix-shell"; } // removeAttrs args [ "packages" ]);

    nixos =
      configuration:
      import ../nixos {
        inherit lib pkgs;
      } [ configuration ];

    testers.runNixOSTest =
      test:
      let
        nodes = lib.mapAttrs (
          name: node:
          (import ../nixos { inherit lib pkgs; } [
            node
            {
              networking.hostName = lib.mkDefault name;
              _module.args.nodes = lib.mapAttrs (_: evaluated: evaluated.config) nodes;
            }
          ])
        ) test.nodes;
      in
      mkDerivation {
        name = "vm-test-run-${test.name}";
        inherit (test) testScript;
        passthru = { inherit nodes; };
      };
  }
  // lib.genAttrs [
    "bash"
    "coreutils"
    "curl"
    "findutils"
    "git"
    "gnugrep"
    "gnused"
    "jq"
    "nix"
    "nixfmt-tree"
    "openssh"
    "python3"
    "redis"
    "systemd"
    "util-linux"
  ] package
)

{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
  openssh,
}:

let
  packageJson = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = "nixguard";
  inherit (packageJson) version;

  # Only what the build and the installed package need: a change to tests, docs
  # prose or the Nix files does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../src
      ../docs
      ../examples
      (lib.fileset.maybeMissing ../contrib)
    ];
  };

  nodejs = nodejs_22;

  # Dependencies come from package-lock.json itself (one fixed-output fetch per
  # package, hashes taken from the lockfile): updating the lockfile needs no
  # npmDepsHash bump.
  npmDeps = importNpmLock {
    package = packageJson;
    packageLock = lib.importJSON ../package-lock.json;
  };
  npmConfigHook = importNpmLock.npmConfigHook;

  # `npm run build` (tsc) is buildNpmPackage's default build script; the install
  # hook prunes dev dependencies and wraps the `bin` entry of package.json.
  # NixGuard runs `ssh` itself (systemd probes, unit restarts); nixops4 and nix
  # come from the NixOS service's `path`, not from here.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ openssh ])
  ];

  meta = {
    description = "Self-healing reconciliation daemon for NixOS fleets deployed with nixops4";
    license = lib.licenses.agpl3Plus;
    mainProgram = "nixguard";
    platforms = nodejs_22.meta.platforms;
  };
}

{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
  openssh,
  # Where the npm dependencies are fetched from: any registry (or mirror) that serves
  # npm's tarball layout. The lock's integrity hashes pin the bytes, so changing it
  # changes no output: `nixguard.override { npmRegistry = "https://npm.example.org"; }`.
  npmRegistry ? "https://registry.npmjs.org",
}:

let
  packageJson = lib.importJSON ../package.json;
  root = toString ../.;

  # node's own flags, in front of the script: src/runtime/heap.ts HEAP_NODE_FLAGS
  # (test/integration/nix/flake-eval.test.ts keeps the two equal).
  nodeFlags = [
    "--heap-growing-percent=100"
    "--no-allocation-site-pretenuring"
  ];

  # Paths relative to the repository root that the build and the installed package need.
  sourceFiles = [
    "package.json"
    "package-lock.json"
    "tsconfig.json"
    "tsconfig.build.json"
  ];
  sourceDirs = [
    "src"
    "docs"
    "examples"
    "contrib"
  ];
  inSource =
    path:
    let
      relative = lib.removePrefix "${root}/" (toString path);
    in
    lib.elem relative (sourceFiles ++ sourceDirs)
    || lib.any (dir: lib.hasPrefix "${dir}/" relative) sourceDirs;
in
buildNpmPackage {
  pname = "nixguard";
  inherit (packageJson) version;

  # Only what the build and the installed package need: a change to tests, docs
  # prose or the Nix files does not rebuild the package.
  # (lib.sources rather than lib.fileset: the same result, and it evaluates with the
  # Nix 2.8 the CI machines have, so CI evaluates this whole derivation.)
  src = lib.cleanSourceWith {
    name = "nixguard-source";
    src = ../.;
    filter = path: _type: inSource path;
  };

  nodejs = nodejs_22;

  # Dependencies come from package-lock.json itself (one fixed-output fetch per
  # package, hashes taken from the lockfile): updating the lockfile needs no
  # npmDepsHash bump. The lock has no `resolved` URLs; npm-lock.nix adds them.
  npmDeps = importNpmLock {
    package = packageJson;
    packageLock = import ./npm-lock.nix { inherit lib; } {
      packageLock = lib.importJSON ../package-lock.json;
      registry = npmRegistry;
    };
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

  # The install hook's wrapper runs `node main.js`, and any flag it adds lands after
  # the script, as the script's argument. Heap tuning must reach node itself, before
  # the script (src/runtime/heap.ts: V8 flags are never changed at run time), so the
  # wrapper is written again with them in front.
  postInstall = ''
    makeWrapper ${nodejs_22}/bin/node "$out/bin/nixguard" \
      --add-flags ${lib.escapeShellArg (lib.concatStringsSep " " nodeFlags)} \
      --add-flags "$out/lib/node_modules/${packageJson.name}/${packageJson.bin.nixguard}" \
      "''${makeWrapperArgs[@]}"
  '';

  passthru = { inherit nodeFlags; };

  meta = {
    description = "Self-healing reconciliation daemon for NixOS fleets deployed with nixops4";
    license = lib.licenses.agpl3Plus;
    mainProgram = "nixguard";
    platforms = nodejs_22.meta.platforms;
  };
}

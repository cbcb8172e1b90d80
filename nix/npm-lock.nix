# package-lock.json as nixpkgs' importNpmLock needs it.
#
# importNpmLock fetches each dependency from its `resolved` URL, checked against its
# `integrity`, and every direct dependency must have one. This project's lock has no
# `resolved` fields: the machines that write it use an npm mirror, and a lock must not
# name a registry host. npm itself finds a tarball from the name and version alone,
# at <registry>/<name>/-/<basename>-<version>.tgz (for `@scope/name`, the basename is
# `name`), so this does the same against `registry`, which the package exposes as an
# override. The tarball is pinned by the lock's own `integrity` either way: a
# registry serving other bytes fails the fetch.
{ lib }:

{
  packageLock,
  registry,
}:

let
  base = lib.removeSuffix "/" registry;

  # "node_modules/a/node_modules/@s/b" installs the package `@s/b`; an aliased
  # dependency ("string-width-cjs": "npm:string-width@4") carries its real `name`.
  packageName = path: module: module.name or (lib.last (lib.splitString "node_modules/" path));

  tarball = name: version: "${base}/${name}/-/${baseNameOf name}-${version}.tgz";

  isInstalled = path: lib.hasPrefix "node_modules/" path || lib.hasInfix "/node_modules/" path;

  withResolved =
    path: module:
    if path == "" || module ? resolved || (module.link or false) || !isInstalled path then
      module
    else if module ? integrity then
      module // { resolved = tarball (packageName path module) module.version; }
    # An entry without `integrity` cannot be a fixed-output fetch. The lock has some:
    # optional per-platform builds the writing machine's mirror does not serve
    # (scripts/lock-fill-platforms.mjs). npm skips an optional dependency it cannot
    # fetch, so they stay as they are; a required one is an error here, not a build
    # that fails offline later.
    else if module.optional or false || module.devOptional or false then
      module
    else
      throw "package-lock.json: ${path} has no integrity; run `npm install` to complete the lock";
in
packageLock // { packages = lib.mapAttrs withResolved packageLock.packages; }

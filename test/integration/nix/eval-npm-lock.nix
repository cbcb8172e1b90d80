# nix/npm-lock.nix applied to a lock given as JSON text, for npm-lock.test.ts.
{
  lib,
  lock,
  registry,
}:

(import ../../../nix/npm-lock.nix { inherit lib; } {
  packageLock = builtins.fromJSON lock;
  inherit registry;
}).packages

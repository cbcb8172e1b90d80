{
  description = "NixGuard: self-healing reconciliation daemon for NixOS fleets deployed with nixops4";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    # Only for the module's default nixops4Package and the dev shell; a flake that
    # already has nixops4 can point this at its own: inputs.nixguard.inputs.nixops4.follows.
    nixops4.url = "github:nixops4/nixops4";
    nixops4.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      nixops4,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = lib.genAttrs systems;
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      # The module's evaluation and the VM test need NixOS: Linux only.
      testsFor =
        system:
        let
          pkgs = pkgsFor system;
        in
        lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          module-eval = import ./nix/tests/module-eval.nix { inherit pkgs self; };
          vm = import ./nix/tests/vm.nix { inherit pkgs self; };
        };
    in
    {
      overlays.default = final: _prev: {
        nixguard = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (
        system:
        let
          package = (pkgsFor system).callPackage ./nix/package.nix { };
        in
        {
          # `passthru.tests`, as nixpkgs packages have them: the module evaluated in a
          # real NixOS and the VM test (Linux only).
          nixguard = package.overrideAttrs (old: {
            passthru = (old.passthru or { }) // {
              tests = testsFor system;
            };
          });
          default = self.packages.${system}.nixguard;
        }
      );

      nixosModules.default = lib.modules.importApply ./nix/module.nix { inherit self nixops4; };
      nixosModules.nixguard = self.nixosModules.default;

      checks = forAllSystems (
        system: { package = self.packages.${system}.default; } // self.packages.${system}.default.tests
      );

      # `nix fmt`: the nixpkgs style (RFC 166) for every .nix file.
      formatter = forAllSystems (system: (pkgsFor system).nixfmt-tree);

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.mkShell {
            packages = [
              pkgs.nodejs_22
              pkgs.redis
              pkgs.openssh
              pkgs.git
            ]
            ++ lib.optional (nixops4.packages ? ${system}) nixops4.packages.${system}.default;
          };
        }
      );
    };
}

{
  description = "Forge: a Nix-native, flake-driven build-and-release orchestrator";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # Pure Nix helpers for projects that deploy with Forge (no nixpkgs needed).
      lib = import ./lib;

      packages = forAll (pkgs: rec {
        forge = pkgs.callPackage ./nix/package.nix { };
        default = forge;
      });

      # `nix run .#deploy -- <args>` in a shell or in GitHub Actions.
      apps = forAll (pkgs: rec {
        deploy = {
          type = "app";
          program = "${self.packages.${pkgs.system}.forge}/bin/forge";
        };
        default = deploy;
      });

      checks = forAll (pkgs: import ./checks { inherit pkgs self; });

      nixosModules.cache-client = import ./modules/cache-client.nix;
    };
}

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

      # `nix run .#deploy -- <service> --env <env>` (forge deploy) in a shell or
      # in GitHub Actions; `nix run .#forge -- <command>` for the rest.
      apps = forAll (pkgs:
        let pkg = self.packages.${pkgs.system}.forge;
        in rec {
          forge = {
            type = "app";
            program = "${pkg}/bin/forge";
          };
          deploy = {
            type = "app";
            program = "${pkgs.writeShellScript "forge-deploy" ''exec ${pkg}/bin/forge deploy "$@"''}";
          };
          default = forge;
        });

      checks = forAll (pkgs: import ./checks { inherit pkgs self; });

      nixosModules.cache-client = import ./modules/cache-client.nix;
    };
}

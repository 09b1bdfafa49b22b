{
  description = "Forge: a Nix-native, flake-driven build-and-release orchestrator";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = import ./lib/platform.nix { inherit lib; };
      forAll = f: lib.genAttrs systems.systems (system: f (nixpkgs.legacyPackages.${system}.extend self.overlays.default));

      # `nix run .#<name> -- ARGS` runs `forge <command> ARGS`.
      app = pkgs: program: description: {
        type = "app";
        inherit program;
        meta = { inherit description; };
      };
      forgeCommand =
        pkgs: command: description:
        app pkgs "${pkgs.writeShellScript "forge-${command}" ''exec ${lib.getExe pkgs.forge} ${command} "$@"''}" description;
      # A module with this flake's packages as its defaults.
      withPackage = file: defaults: {
        imports = [
          file
          ({ pkgs, ... }: defaults self.packages.${pkgs.stdenv.hostPlatform.system})
        ];
      };
    in
    {
      # Pure Nix helpers for flakes that deploy with Forge (nixpkgs' lib only):
      # forgeConfiguration, substituterSettings, attic, platform, image.
      lib = import ./lib { inherit lib; };

      overlays.default = final: _prev: {
        forge = final.callPackage ./nix/package.nix { };
        forge-provision = final.callPackage ./nix/forge-provision.nix { };
      };

      packages = forAll (pkgs: {
        inherit (pkgs) forge forge-provision;
        default = pkgs.forge;
      });

      apps = forAll (pkgs: {
        forge = app pkgs (lib.getExe pkgs.forge) "forge: build, push, deploy and release from a flake";
        default = self.apps.${pkgs.stdenv.hostPlatform.system}.forge;
        deploy = forgeCommand pkgs "deploy" "forge deploy SERVICE --env ENV: build, push, pin, reconcile and watch one service";
        orchestrate-release = forgeCommand pkgs "orchestrate-release" "forge orchestrate-release: a release run over the ledger (every service, then every environment)";
        product-release = forgeCommand pkgs "product-release" "forge product-release: release a product's services across environments with promotion gates";
        forge-provision = app pkgs (lib.getExe pkgs.forge-provision) "forge-provision: converge PostgreSQL and Attic from YAML";
      });

      # The toolchain, and every service the integration tests start.
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ pkgs.forge ];
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            nix
            nginx
            fcgiwrap
            postgresql
            git
            openssh
            python3
            docker-distribution
            skopeo
            umoci
            podman
            go
            curl
            nixfmt-rfc-style
          ];
        };
      });

      formatter = forAll (pkgs: pkgs.nixfmt-rfc-style);

      checks = forAll (pkgs: import ./checks { inherit pkgs self; });

      # One module per service; `default` imports them all. (The NixOS
      # deploy agent, services.forge.agent, comes as one more.)
      nixosModules = {
        cache-client = ./modules/cache-client.nix;
        provision = withPackage ./modules/provision.nix (p: {
          services.forge.provision.package = lib.mkDefault p.forge-provision;
        });
        serve = withPackage ./modules/serve.nix (p: {
          services.forge.serve.package = lib.mkDefault p.forge;
        });
        default.imports = with self.nixosModules; [
          cache-client
          provision
          serve
        ];
      };

      templates.default = {
        path = ./templates/default;
        description = "A service flake deployed with Forge: packages, forgeConfigurations.default and a GitHub Actions workflow";
      };
    };
}

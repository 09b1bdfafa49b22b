{
  description = "Forge: a Nix-native, flake-driven build-and-release orchestrator";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = import ./lib/platform.nix { inherit lib; };
      forAll = f: lib.genAttrs systems.systems (system: f (nixpkgs.legacyPackages.${system}.extend self.overlays.default));

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

      apps = forAll (
        pkgs:
        let
          app =
            a:
            let
              exe = lib.getExe pkgs.${a.program};
            in
            {
              type = "app";
              program =
                if a.command == null then
                  exe
                else
                  "${pkgs.writeShellScript "forge-${a.command}" ''exec ${exe} ${a.command} "$@"''}";
              meta = { inherit (a) description; };
            };
          table = import ./nix/apps.nix;
        in
        lib.listToAttrs (map (a: lib.nameValuePair a.name (app a)) table) // { default = app (builtins.head table); }
      );

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
            nixpkgs-fmt
          ];
        };
      });

      # The same formatter the tests check with (crates/forge/tests/it/nix_lib.rs).
      formatter = forAll (pkgs: pkgs.nixpkgs-fmt);

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
        agent = withPackage ./modules/agent.nix (p: {
          services.forge.agent.package = lib.mkDefault p.forge;
        });
        default.imports = with self.nixosModules; [
          cache-client
          provision
          serve
          agent
        ];
      };

      templates.default = {
        path = ./templates/default;
        description = "A service flake deployed with Forge: packages, forgeConfigurations.default and a GitHub Actions workflow";
      };
    };
}

{
  description = "A service deployed with Forge";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    forge.url = "github:your-org/forge";
    forge.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    { self
    , nixpkgs
    , forge
    }:
    let
      forAll = nixpkgs.lib.genAttrs forge.lib.platform.systems;
    in
    {
      packages = forAll (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          # The service: any package whose bin/ holds one program (it becomes
          # the image's entrypoint).
          api = pkgs.writeShellApplication {
            name = "api";
            runtimeInputs = [ pkgs.busybox ];
            text = ''exec httpd -f -p 8080 -h ${./public}'';
          };
          default = self.packages.${system}.api;
        }
      );

      # `forge deploy api --env staging --config flake:.#default`
      forgeConfigurations.default = forge.lib.forgeConfiguration {
        inherit self;
        modules = [ ./forge.nix ];
      };

      # `nix flake check`: Forge's own checks of the configuration.
      checks = forAll (system: {
        forge-config = forge.lib.configurationCheck {
          pkgs = nixpkgs.legacyPackages.${system};
          forge = forge.packages.${system}.forge;
          configuration = self.forgeConfigurations.default;
        };
      });

      # `nix run .#forge -- …` runs the Forge this flake pins.
      apps = forAll (system: {
        forge = forge.apps.${system}.forge;
      });
    };
}

# Forge's Nix library: what a flake that deploys with Forge needs. Takes
# nixpkgs' `lib` only (no packages), so all of it evaluates without nixpkgs;
# the flake passes nixpkgs.lib. Tests: checks/lib-tests.nix.
{ lib }:
let
  forge = {
    inherit (import ./substituters.nix { inherit lib; }) substituterSettings;
    inherit (deployConfig) forgeConfiguration evalForgeConfiguration;
    inherit (import ./configuration-check.nix { inherit lib; }) configurationCheck;
    attic = import ./attic.nix { inherit lib; };
    platform = import ./platform.nix { inherit lib; };
    image = import ./image.nix { inherit lib; };
  };
  deployConfig = import ./deploy-config {
    inherit lib;
    forgeLib = forge;
  };
in
forge

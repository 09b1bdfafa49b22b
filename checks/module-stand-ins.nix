# Stand-ins for what NixOS gives the modules, so they evaluate with nixpkgs'
# lib alone: the NixOS options they set (declared as loosely as NixOS does),
# and a pkgs whose writers are builtins.toFile (the files they write can be
# read back, and run). Used by module-tests.nix and the Rust tests.
{ lib }:
let
  inherit (lib) types mkOption;

  nixosStandIns = {
    options = {
      assertions = mkOption {
        type = types.listOf (
          types.submodule {
            options.assertion = mkOption { type = types.bool; };
            options.message = mkOption { type = types.str; };
          }
        );
        default = [ ];
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      systemd.timers = mkOption {
        type = types.attrsOf (types.attrsOf types.anything);
        default = { };
      };
      nix.package = mkOption {
        type = types.package;
        default = fakePackage "nix";
      };
      nix.settings = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      services.postgresql.enable = mkOption {
        type = types.bool;
        default = false;
      };
    };
  };
  pkgs = {
    writeText = name: text: builtins.toFile name text;
    writeShellScript = name: text: builtins.toFile name "#!/bin/sh\n${text}";
  };
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
  };

in
{
  inherit nixosStandIns pkgs fakePackage;
  # The config of the three modules with `modules` added.
  eval =
    modules:
    (lib.evalModules {
      modules = [
        nixosStandIns
        ../modules/cache-client.nix
        ../modules/provision.nix
        ../modules/serve.nix
      ]
      ++ modules;
      specialArgs = { inherit pkgs; };
    }).config;
}

# A flake check for a forge configuration: Forge's own reader (the one
# deploy.yaml goes through) over the rendered configuration, so `nix flake
# check` catches what only Forge checks (patterns, references between
# services, registry syntax) before any deploy.
#
#   checks.x86_64-linux.forge-config = forge.lib.configurationCheck {
#     pkgs = nixpkgs.legacyPackages.x86_64-linux;
#     forge = forge.packages.x86_64-linux.forge;
#     configuration = self.forgeConfigurations.default;
#   };
{ lib }:
{
  configurationCheck =
    { pkgs
    , forge
    , configuration
    , name ? "forge-configuration"
    }:
    let
      # JSON is YAML; `flake` is set so that Forge does not look for one.
      file = pkgs.writeText "${name}.json" (builtins.toJSON ({ flake = "."; } // configuration));
    in
    pkgs.runCommand name { } ''
      ${lib.getExe' forge "forge"} config validate --config ${file} > $out
    '';
}

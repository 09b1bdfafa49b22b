# Flake checks: the package builds with its unit tests, and lib/ evaluates.
{ pkgs, self }:
{
  forge = self.packages.${pkgs.system}.forge;
  lib = pkgs.runCommand "forge-lib-check" { } ''
    ${pkgs.lib.optionalString (
      (self.lib.substituterSettings { url = "https://c.example/main"; publicKey = "main-1:${pkgs.lib.fixedWidthString 44 "A" ""}"; })
        .extra-substituters != [ "https://c.example/main" ]
    ) "echo substituterSettings is wrong; exit 1"}
    touch $out
  '';
}

# `nix flake check`: the package with its unit tests, clippy and rustfmt
# over the workspace, the lib/ tests, the module evaluation tests, and the
# Nix files' formatting (nixpkgs-fmt).
{ pkgs, self }:
let
  inherit (pkgs) lib;
  src = import ../nix/source.nix { inherit lib; };
  # A list of lib.runTests failures as a check: it fails with the list.
  runTests =
    name: failures:
    pkgs.runCommand name { } (
      if failures == [ ] then
        "touch $out"
      else
        ''
          echo ${lib.escapeShellArg (builtins.toJSON failures)} >&2
          exit 1
        ''
    );
  # The flake's own Nix files, as crates/forge/tests/it/nix_lib.rs checks them.
  nixFiles = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.intersection (lib.fileset.fileFilter (f: f.hasExt "nix") ../.) (
      lib.fileset.unions [
        ../flake.nix
        ../lib
        ../modules
        ../nix
        ../checks
        ../templates
      ]
    );
  };
in
{
  forge = self.packages.${pkgs.stdenv.hostPlatform.system}.forge;
  forge-provision = self.packages.${pkgs.stdenv.hostPlatform.system}.forge-provision;

  clippy = pkgs.forge.overrideAttrs (old: {
    pname = "forge-clippy";
    nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.clippy ];
    buildPhase = ''
      runHook preBuild
      cargo clippy --workspace --all-targets --offline -- -D warnings
      runHook postBuild
    '';
    doCheck = false;
    installPhase = "touch $out";
    postInstall = "";
  });

  fmt = pkgs.runCommand "forge-fmt"
    {
      nativeBuildInputs = [
        pkgs.cargo
        pkgs.rustfmt
      ];
    } "export HOME=$TMPDIR; cd ${src} && cargo fmt --all --check && touch $out";

  nix-fmt = pkgs.runCommand "forge-nix-fmt" { nativeBuildInputs = [ pkgs.nixpkgs-fmt ]; } ''
    nixpkgs-fmt --check ${nixFiles}
    touch $out
  '';

  lib-tests = runTests "forge-lib-tests" (import ./lib-tests.nix { inherit lib; });
  module-tests = runTests "forge-module-tests" (import ./module-tests.nix { inherit lib; });
}

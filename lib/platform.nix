# Nix systems and the OCI platforms their store paths run on. The same table
# as forge_core::oci::image_config::Arch (as_str, nix_system, and the aliases
# deploy.yaml's `arch` accepts); crates/forge/tests/it/nix_lib.rs checks that
# they agree.
{ lib }:
let
  table = [
    {
      system = "x86_64-linux";
      os = "linux";
      architecture = "amd64";
      aliases = [ "x86_64" ];
    }
    {
      system = "aarch64-linux";
      os = "linux";
      architecture = "arm64";
      aliases = [ "aarch64" ];
    }
  ];
  known = lib.concatMapStringsSep ", " (p: p.system) table;
  find = what: pred: lib.findFirst pred (throw "forge.lib.platform: ${what} (known: ${known})") table;
in
{
  inherit table;

  # The systems Forge builds images for.
  systems = map (p: p.system) table;

  # Example: ociPlatform "aarch64-linux" => { os = "linux"; architecture = "arm64"; }
  ociPlatform =
    system:
    let
      p = find "no OCI platform for system ${builtins.toJSON system}" (p: p.system == system);
    in
    {
      inherit (p) os architecture;
    };

  # The Nix system for an `arch` as deploy.yaml spells it (amd64, arm64, x86_64, aarch64).
  # Example: systemOf "arm64" => "aarch64-linux"
  systemOf =
    arch:
    (find "no system for architecture ${builtins.toJSON arch}" (
      p: p.architecture == arch || builtins.elem arch p.aliases
    )).system;
}

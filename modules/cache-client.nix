# NixOS module: substitute from a binary cache that Forge pushes to.
{ config, lib, ... }:
let
  cfg = config.services.forge.cacheClient;
  settings = (import ../lib).substituterSettings { inherit (cfg) url publicKey priority; };
in
{
  options.services.forge.cacheClient = {
    enable = lib.mkEnableOption "substituting from a Forge-pushed binary cache";
    url = lib.mkOption { type = lib.types.str; description = "Cache URL (file://, http:// or https://)."; };
    publicKey = lib.mkOption { type = lib.types.str; description = "The cache's public key, name:base64."; };
    priority = lib.mkOption { type = lib.types.nullOr lib.types.int; default = null; description = "Substituter priority (lower wins)."; };
  };
  config = lib.mkIf cfg.enable { nix.settings = settings; };
}

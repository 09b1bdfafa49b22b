# NixOS module: substitute from a binary cache that Forge pushes to.
{ config, lib, ... }:
let
  cfg = config.services.forge.cacheClient;
  urlOk = builtins.match "(file|https?)://.+" cfg.url != null;
  keyOk = builtins.match "[^:]+:[A-Za-z0-9+/=]{44}" cfg.publicKey != null;
  forge = import ../lib { inherit lib; };
in
{
  options.services.forge.cacheClient = {
    enable = lib.mkEnableOption "substituting from a binary cache Forge pushes to";
    url = lib.mkOption {
      type = lib.types.str;
      example = "https://attic.example.com/main";
      description = "The cache's URL: file://, http:// or https:// (for Attic, the server's URL followed by the cache name).";
    };
    publicKey = lib.mkOption {
      type = lib.types.str;
      example = "main-1:AAAA…=";
      description = "The cache's public key, `name:base64`, as `forge cache keygen` prints it (or Attic's cache-config shows).";
    };
    priority = lib.mkOption {
      type = lib.types.nullOr lib.types.ints.unsigned;
      default = null;
      description = "Substituter priority: lower is tried first (cache.nixos.org is 40).";
    };
    netrcFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/attic-netrc";
      description = ''
        A netrc file holding the token of a private cache (`machine HOST password TOKEN`), on the
        machine and outside the Nix store: see `forge.lib.attic.netrcLine` to write it from a token file.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = urlOk;
        message = "services.forge.cacheClient.url must start with file://, http:// or https:// (got ${builtins.toJSON cfg.url}); for Attic use the server's URL followed by the cache name.";
      }
      {
        assertion = keyOk;
        message = "services.forge.cacheClient.publicKey must be name:base64 (a 32-byte ed25519 key), as `forge cache keygen` prints it; got ${builtins.toJSON cfg.publicKey}.";
      }
      {
        assertion = cfg.netrcFile == null || !lib.hasPrefix builtins.storeDir cfg.netrcFile && lib.hasPrefix "/" cfg.netrcFile;
        message = "services.forge.cacheClient.netrcFile must be an absolute path outside the Nix store (it holds a token; the store is world-readable); got ${builtins.toJSON cfg.netrcFile}.";
      }
    ];
    nix.settings = lib.mkIf (urlOk && keyOk) (
      forge.substituterSettings { inherit (cfg) url publicKey priority; }
      // lib.optionalAttrs (cfg.netrcFile != null) { netrc-file = cfg.netrcFile; }
    );
  };
}

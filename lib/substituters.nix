# Nix settings that make a machine substitute from a cache Forge pushes to.
{ lib }:
{
  /*
    Example:
      forge.lib.substituterSettings { url = "https://cache.example.com/main"; publicKey = "main-1:..."; }
      => { extra-substituters = [ "https://cache.example.com/main" ]; extra-trusted-public-keys = [ "main-1:..." ]; }
  */
  substituterSettings =
    { url
    , publicKey
    , priority ? null
    }:
      assert
      builtins.isString url && builtins.match "(file|https?)://.+" url != null
      || throw "forge.lib.substituterSettings: url must be file://, http:// or https://, got ${builtins.toJSON url}";
      assert
      builtins.match "[^:]+:[A-Za-z0-9+/=]{44}" publicKey != null
      || throw "forge.lib.substituterSettings: publicKey must be name:base64 (as `forge cache keygen` prints)";
      assert
      priority == null || builtins.isInt priority
      || throw "forge.lib.substituterSettings: priority must be an integer or null";
      {
        extra-substituters = [
          (if priority == null then url else "${url}?priority=${toString priority}")
        ];
        extra-trusted-public-keys = [ publicKey ];
      };
}

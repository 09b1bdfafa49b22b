# Nix helpers for projects that push with Forge. Pure: no nixpkgs needed, so
# `nix eval` can test them anywhere.
{
  /* Nix settings that make a machine substitute from a cache Forge pushes to.
     Example: forge.lib.substituterSettings { url = "https://cache.example.com/main"; publicKey = "main-1:..."; }
  */
  substituterSettings = { url, publicKey, priority ? null }:
    assert builtins.isString url && builtins.match "(file|https?)://.+" url != null
      || throw "forge.lib.substituterSettings: url must be file://, http:// or https://, got ${builtins.toJSON url}";
    assert builtins.match "[^:]+:[A-Za-z0-9+/=]{44}" publicKey != null
      || throw "forge.lib.substituterSettings: publicKey must be name:base64 (as `forge cache keygen` prints)";
    {
      extra-substituters = [ (if priority == null then url else "${url}?priority=${toString priority}") ];
      extra-trusted-public-keys = [ publicKey ];
    };
}

# Using an Attic cache that Forge pushes to: where to point `cache.url`, how
# Nix substitutes from it, and the netrc line private caches need. Tokens
# never pass through here (they would land in the Nix store): only the name
# of a file or variable that holds one.
{ lib }:
let
  # "https://attic.example.com" -> { scheme = "https"; host = "attic.example.com"; }
  parseEndpoint =
    fn: endpoint:
    let
      m = builtins.match "(https?)://([^/?#]+)/?" endpoint;
    in
    if m == null then
      throw "forge.lib.attic.${fn}: endpoint must be http(s)://HOST[:PORT] with no path, got ${builtins.toJSON endpoint}"
    else
      {
        scheme = builtins.elemAt m 0;
        host = builtins.elemAt m 1;
      };
  checkCache =
    fn: cache:
    if builtins.match "[A-Za-z0-9._-]+" cache == null then
      throw "forge.lib.attic.${fn}: cache must be an Attic cache name, got ${builtins.toJSON cache}"
    else
      cache;
in
rec {
  /*
    deploy.yaml's `cache:` for an Attic cache (forge reads the token from tokenEnv).
    Example: deployCache { endpoint = "https://attic.example.com"; cache = "main"; }
      => { url = "attic://attic.example.com/main"; token_env = "ATTIC_TOKEN"; }
    Plain HTTP endpoints give attic+http:// URLs.
  */
  deployCache =
    { endpoint
    , cache
    , tokenEnv ? "ATTIC_TOKEN"
    }:
    let
      e = parseEndpoint "deployCache" endpoint;
      scheme = if e.scheme == "https" then "attic" else "attic+http";
    in
    {
      url = "${scheme}://${e.host}/${checkCache "deployCache" cache}";
      token_env = tokenEnv;
    };

  /*
    nix.settings for substituting from an Attic cache: its binary-cache URL,
    its public key and, for a private cache, the netrc file holding the token
    (a path on the machine, written outside the store; see netrcLine).
  */
  substituterSettings =
    { endpoint
    , cache
    , publicKey
    , netrcFile ? null
    }:
    let
      e = parseEndpoint "substituterSettings" endpoint;
    in
    assert
    netrcFile == null || lib.hasPrefix "/" (toString netrcFile) && !lib.hasPrefix builtins.storeDir (toString netrcFile)
    || throw "forge.lib.attic.substituterSettings: netrcFile must be an absolute path outside the Nix store (it holds the token), got ${builtins.toJSON netrcFile}";
    (import ./substituters.nix { inherit lib; }).substituterSettings
      {
        url = "${e.scheme}://${e.host}/${checkCache "substituterSettings" cache}";
        inherit publicKey;
      }
    // lib.optionalAttrs (netrcFile != null) { netrc-file = toString netrcFile; };

  /*
    The netrc line Nix sends an Attic token with (Attic takes it as the Basic
    password), with the token read from tokenFile when the line is written:
    a shell command for a oneshot service or activation script, so the token
    itself is never evaluated.
    Example: netrcLine { endpoint = "https://attic.example.com"; tokenFile = "/run/secrets/attic"; }
      => ''printf 'machine %s password %s\n' attic.example.com "$(cat /run/secrets/attic)"''
  */
  netrcLine =
    { endpoint, tokenFile }:
    let
      e = parseEndpoint "netrcLine" endpoint;
      host = builtins.head (lib.splitString ":" e.host);
    in
    "printf 'machine %s password %s\\n' ${lib.escapeShellArg host} \"$(cat ${lib.escapeShellArg (toString tokenFile)})\"";
}

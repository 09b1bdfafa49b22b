# What Forge deploys, where, and how: deploy.yaml's options, in Nix
# (`forge config schema` documents them; unknown options are errors).
{ self, forgeLib, ... }:
{
  registry = "ghcr.io/example";

  # Closures go to an Attic cache; the token comes from $ATTIC_TOKEN.
  cache = forgeLib.attic.deployCache {
    endpoint = "https://attic.example.com";
    cache = "main";
  };

  gitops = {
    repo = "https://github.com/example/gitops.git";
    auth.token_env = "GITOPS_TOKEN";
  };

  environments = {
    staging = { };
    production.timeouts.rollout = "15m";
  };

  services.api = {
    # Named by value: a typo is an evaluation error, not a failed deploy.
    package = self.packages.x86_64-linux.api;
    image = {
      arch = [
        "amd64"
        "arm64"
      ];
      expose = [ 8080 ];
    };
    rollback = "auto";
    verify = [
      {
        name = "health";
        http.url = "https://api.{env}.example.com/";
        count = 3;
      }
    ];
  };
}

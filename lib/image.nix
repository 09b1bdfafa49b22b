# Image settings for `forge image build` / `forge image push`, written with
# the same keys as deploy.yaml's `services.<name>.image` (entrypoint, cmd,
# env, workdir, user, labels, expose, max_layers, compression, arch), so one
# attribute set serves a forgeConfiguration and a script that builds images.
{ lib }:
let
  known = [
    "entrypoint"
    "cmd"
    "env"
    "workdir"
    "user"
    "labels"
    "expose"
    "max_layers"
    "compression"
    "arch"
  ];
  words = w: if builtins.isList w then builtins.toJSON w else w;
  keyValues = flag: attrs: lib.concatLists (lib.mapAttrsToList (k: v: [ flag "${k}=${v}" ]) attrs);
  opt = flag: v: lib.optionals (v != null) [ flag (toString v) ];
in
{
  /*
    The command-line arguments for these settings.
    Example: buildArgs { expose = [ 8080 ]; env.RUST_LOG = "info"; entrypoint = [ "/bin/app" "--serve" ]; }
      => [ "--entrypoint" "[\"/bin/app\",\"--serve\"]" "--env" "RUST_LOG=info" "--expose" "8080" ]
  */
  buildArgs =
    settings:
    let
      unknown = lib.subtractLists known (builtins.attrNames settings);
      s = lib.genAttrs known (k: settings.${k} or null);
    in
    if unknown != [ ] then
      throw "forge.lib.image.buildArgs: unknown setting(s) ${lib.concatStringsSep ", " unknown} (known: ${lib.concatStringsSep ", " known})"
    else if builtins.isList s.arch then
      throw "forge.lib.image.buildArgs: arch is one architecture per image (forge image build builds one), got a list"
    else
      opt "--entrypoint" (if s.entrypoint == null then null else words s.entrypoint)
      ++ opt "--cmd" (if s.cmd == null then null else words s.cmd)
      ++ keyValues "--env" (if s.env == null then { } else s.env)
      ++ opt "--workdir" s.workdir
      ++ opt "--user" s.user
      ++ keyValues "--label" (if s.labels == null then { } else s.labels)
      ++ lib.concatMap (p: [ "--expose" (toString p) ]) (if s.expose == null then [ ] else s.expose)
      ++ opt "--max-layers" s.max_layers
      ++ opt "--compression" s.compression
      ++ opt "--arch" s.arch;
}

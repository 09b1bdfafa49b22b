# A forge configuration's values as deploy.yaml would hold them: only what
# was set (Forge applies the defaults), walked along the schema so that the
# module system's own attributes and Nix-only options stay out.
{ lib
, schema
, deref
, regex
, secretKeys
}:
let
  at = path: lib.concatStringsSep "." path;
  kind =
    v:
    if builtins.isList v then
      "array"
    else if builtins.isAttrs v then
      "object"
    else
      "scalar";
  schemaKind =
    s:
    let
      t = (deref s).type or null;
    in
    if t == "array" || t == "object" then t else "scalar";

  render =
    hooks: path: s0: v:
    let
      s = deref s0;
      hook = hooks.${s._def or ""} or (_: _: out: out);
    in
    if v == null then
      null
    else if s ? anyOf || s ? oneOf then
      let
        branch = lib.findFirst (b: schemaKind b == kind v) (throw "forge configuration: ${at path}: no schema branch for a ${kind v}") (s.anyOf or s.oneOf);
      in
      render hooks path branch v
    else if s.type or null == "object" && s ? properties then
      let
        out = lib.filterAttrs (_: x: x != null) (
          lib.mapAttrs (n: p: render hooks (path ++ [ n ]) p (v.${n} or null)) s.properties
        );
        count = builtins.length (builtins.attrNames out);
        keys = lib.concatStringsSep ", " (builtins.attrNames s.properties);
        inline = builtins.filter (k: !(s.properties ? ${k}) && (v.${k} or null) != null) secretKeys;
      in
      if inline != [ ] then
      # The value is not shown: it is a secret.
        throw "forge configuration: ${at (path ++ [ (builtins.head inline) ])}: secrets are never written inline (they would be in the world-readable Nix store): name an environment variable with *_env or a file with *_file"
      else if s ? maxProperties && count > s.maxProperties || s ? minProperties && count < s.minProperties then
        throw
          (
            "forge configuration: ${at path}: "
            + (
              if (s.minProperties or null) == 1 && (s.maxProperties or null) == 1 then
                "set exactly one of ${keys}"
              else
                "set between ${toString (s.minProperties or 0)} and ${toString (s.maxProperties or count)} of ${keys}"
            )
          )
      else
        hook path v out
    else if s.type or null == "object" then
      let
        pattern = if s ? propertyNames then regex path (deref s.propertyNames).pattern else null;
        bad = builtins.filter (n: builtins.match pattern n == null) (builtins.attrNames v);
      in
      if pattern != null && bad != [ ] then
        throw "forge configuration: ${at path}.${builtins.head bad}: names here must match ${pattern}"
      else
        lib.mapAttrs (n: x: render hooks (path ++ [ n ]) s.additionalProperties x) v
    else if s.type or null == "array" then
      lib.imap0 (i: x: render hooks (path ++ [ (toString i) ]) s.items x) v
    else
      v;
in
{
  # hooks: { <$defs name> = path: value: rendered: rendered'; }
  render = hooks: config: render hooks [ ] schema config;
}

# deploy.yaml's JSON Schema (`forge config schema`) as module-system options:
# types, descriptions and defaults are read from the schema, so a Nix
# configuration and deploy.yaml cannot drift apart. A keyword this file does
# not translate is an evaluation error, so a constraint added to the schema
# is never silently dropped (the tests evaluate every option).
#
# Optional options default to null and are left out of the rendered
# configuration: Forge applies deploy.yaml's defaults (shown as defaultText),
# in one place, for both.
{ lib, schema }:
let
  inherit (lib) types mkOption;
  keywords = [
    "$schema"
    "$id"
    "$defs"
    "$ref"
    "title"
    "description"
    "type"
    "properties"
    "additionalProperties"
    "required"
    "items"
    "anyOf"
    "enum"
    "pattern"
    "minimum"
    "maximum"
    "minItems"
    "propertyNames"
    "minProperties"
    "maxProperties"
    "default"
    "const"
    "oneOf"
    # Annotations: nothing to check.
    "$comment"
    "examples"
    "deprecated"
    "format"
  ];
  at = path: if path == [ ] then "the top level" else lib.concatStringsSep "." path;
  unsupported = path: what: throw "forge.lib deploy configuration: the schema's ${what} at ${at path} has no Nix translation yet (lib/deploy-config/options.nix)";

  # A schema node with its $ref followed (siblings of $ref, such as a
  # description, win) and the name of the $defs entry it came from.
  deref =
    s:
    if s ? "$ref" then
      let
        name = lib.removePrefix "#/$defs/" s."$ref";
      in
      (deref schema."$defs".${name}) // (removeAttrs s [ "$ref" ]) // { _def = name; }
    else
      s;

  checkKeywords =
    path: s:
    let
      unknown = lib.subtractLists (keywords ++ [ "_def" ]) (builtins.attrNames s);
    in
    if unknown != [ ] then unsupported path "keyword ${lib.concatStringsSep ", " unknown}" else s;

  # JSON Schema patterns search; Nix's builtins.match matches whole strings.
  regex =
    path: p:
    let
      m = builtins.match "\\^(.*)\\$" p;
    in
    if m == null then unsupported path "unanchored pattern ${p}" else builtins.head m;

  isNullSchema = s: (deref s).type or null == "null";
  requiredOf = s: s.required or [ ];
  # An object every key of which may be left out: `{}` is a valid value.
  allOptional = s: s.type or null == "object" && requiredOf s == [ ];

  intType =
    s:
    if s ? minimum && s ? maximum then
      types.ints.between s.minimum s.maximum
    else if s ? minimum then
      types.addCheck types.int (x: x >= s.minimum) // { description = "integer, at least ${toString s.minimum}"; }
    else if s ? maximum then
      types.addCheck types.int (x: x <= s.maximum) // { description = "integer, at most ${toString s.maximum}"; }
    else
      types.int;

  # Extra modules for a $defs entry (e.g. `service` gets `package`).
  typeOf =
    extra: path: s0:
    let
      s' = checkKeywords path (deref s0);
      # For the types here, oneOf (exactly one branch) is anyOf: the branches never overlap.
      s = if s' ? oneOf then removeAttrs s' [ "oneOf" ] // { anyOf = s'.oneOf; } else s';
    in
    if s ? const then
      types.enum [ s.const ]
    else if s ? anyOf then
      let
        branches = builtins.filter (b: !isNullSchema b) s.anyOf;
        nullable = builtins.length branches != builtins.length s.anyOf;
        # "One X or a list of X" for an object X: always a list in Nix (so
        # the option docs show X's options, and the schema takes either).
        oneOrMany =
          builtins.length branches == 2
          && (deref (builtins.elemAt branches 0)).type or null == "object"
          && (deref (builtins.elemAt branches 1)).type or null == "array"
          && (builtins.elemAt branches 1).items == builtins.elemAt branches 0;
        inner =
          if builtins.length branches == 1 then
            typeOf extra path (builtins.head branches)
          else if oneOrMany then
            types.coercedTo types.attrs lib.toList (typeOf extra path (builtins.elemAt branches 1))
          else
            types.oneOf (map (typeOf extra path) branches);
      in
      # A null entry (`app:` in YAML) means "all defaults"; in Nix that is `{ }`.
      if nullable && !(builtins.length branches == 1 && allOptional (deref (builtins.head branches))) then
        types.nullOr inner
      else
        inner
    else if s ? enum then
      types.enum s.enum
    else if s.type or null == "string" then
      if s ? pattern then types.strMatching (regex path s.pattern) else types.str
    else if s.type or null == "integer" then
      intType s
    else if s.type or null == "boolean" then
      types.bool
    else if s.type or null == "array" then
      let
        item = typeOf extra (path ++ [ "*" ]) s.items;
      in
      if (s.minItems or 0) == 0 then
        types.listOf item
      else if s.minItems == 1 then
        types.nonEmptyListOf item
      else
        unsupported path "minItems ${toString s.minItems}"
    else if s.type or null == "object" && s ? properties then
      if (s.additionalProperties or true) != false then
        unsupported path "object with both properties and additionalProperties"
      else
        types.submoduleWith {
          shorthandOnlyDefinesConfig = true;
          modules = [{ options = optionsOf extra path s // secretTraps s; }] ++ (extra.${s._def or ""} or [ ]);
          description = "Forge ${at path} settings";
        }
    else if s.type or null == "object" && builtins.isAttrs (s.additionalProperties or null) then
    # Names are checked when rendering (render.nix): the module system
    # rebuilds attrsOf-of-submodule types, dropping an added check.
      types.attrsOf (typeOf extra (path ++ [ "<name>" ]) s.additionalProperties)
    else
      unsupported path "type ${builtins.toJSON (s.type or null)}";

  optionOf =
    extra: path: required: s0:
    let
      s = deref s0;
      type = typeOf extra path s0;
    in
    mkOption (
      {
        type = if required then type else types.nullOr type;
        description = s.description or "See deploy.yaml's `${at path}`.";
      }
      // lib.optionalAttrs (!required) { default = null; }
      // lib.optionalAttrs (s ? default) {
        defaultText = lib.literalExpression (lib.generators.toPretty { } s.default);
      }
    );

  # Keys a secret would be written under. They are not options, but are
  # declared (hidden) so that writing one is refused by render.nix with a
  # hint, instead of the module system printing the value in its error.
  secretKeys = [
    "token"
    "password"
    "signing_key"
    "ssh_key"
    "secret"
  ];
  secretTraps =
    s:
    lib.genAttrs (lib.subtractLists (builtins.attrNames s.properties) secretKeys) (
      _:
      mkOption {
        type = types.unspecified;
        default = null;
        internal = true;
        visible = false;
        description = "Not an option: secrets are never written inline.";
      }
    );

  optionsOf =
    extra: path: s:
    lib.mapAttrs (n: p: optionOf extra (path ++ [ n ]) (builtins.elem n (requiredOf s)) p) s.properties;
in
{
  inherit deref regex secretKeys;
  # The top-level options, with `extra` modules added to the submodules of
  # the named $defs entries.
  options = extra: optionsOf extra [ ] schema // secretTraps schema;
}

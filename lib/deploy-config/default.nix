# Forge's configuration as a flake output:
#
#   forgeConfigurations.default = forge.lib.forgeConfiguration {
#     inherit self;
#     modules = [ { services.api.package = self.packages.x86_64-linux.api; ... } ];
#   };
#
# read by `forge --config flake:.#default` (one `nix eval --json`). The
# options are deploy.yaml's, one to one (generated from its JSON Schema, see
# options.nix), plus `services.<name>.package`: a package of this flake,
# rendered as the `attr` it is found under, so attributes are never mistyped.
# Modules get `self` and `forgeLib` (this library) as arguments.
{ lib, forgeLib }:
let
  schema = builtins.fromJSON (builtins.readFile ../../crates/forge-core/src/deploy_config/deploy.schema.json);
  generated = import ./options.nix { inherit lib schema; };
  renderer = import ./render.nix {
    inherit lib schema;
    inherit (generated) deref regex secretKeys;
  };
  platform = import ../platform.nix { inherit lib; };

  # Nix-only options of a service.
  serviceModule = {
    options.package = lib.mkOption {
      type = lib.types.nullOr lib.types.package;
      default = null;
      description = ''
        A package of this flake (e.g. `self.packages.x86_64-linux.api`), instead of `attr`:
        rendered as the name it has in `self.packages.<system>`, which must exist for every
        architecture the service's image is built for.
      '';
    };
  };

  # The name `pkg` has in self.packages.<its system>, checked for every arch.
  attrOfPackage =
    self: path: service:
    let
      where = lib.concatStringsSep "." path;
      pkg = service.package;
      system = pkg.system or (throw "forge configuration: ${where}.package has no `system` (is it a derivation?)");
      packages =
        if self == null then
          throw "forge configuration: ${where}.package: pass `self` to forge.lib.forgeConfiguration so packages can be named"
        else
          self.packages.${system} or (throw "forge configuration: ${where}.package: this flake has no packages.${system}");
      same = n: (packages.${n}.name or null) == pkg.name && packages.${n}.outPath == pkg.outPath;
      names = builtins.filter same (builtins.attrNames packages);
      # `default` is usually an alias: prefer the package's own name.
      own = builtins.filter (n: n != "default") names;
      name =
        if names == [ ] then
          throw "forge configuration: ${where}.package: ${pkg.name} is not one of self.packages.${system} (${lib.concatStringsSep ", " (builtins.attrNames packages)}); name a package of this flake, or set attr"
        else
          builtins.head (if own != [ ] then own else names);
      arch = service.image.arch or null;
      archs = if arch == null then [ ] else lib.toList arch;
      missing = builtins.filter (a: !(self.packages ? ${platform.systemOf a} && self.packages.${platform.systemOf a} ? ${name})) archs;
    in
    if missing != [ ] then
      throw "forge configuration: ${where}.package: the image is built for ${lib.concatStringsSep ", " missing} but self.packages.${platform.systemOf (builtins.head missing)}.${name} does not exist"
    else
      name;

  hooks = self: {
    service =
      path: v: out:
      if v.package or null == null then
        out
      else if out ? attr then
        throw "forge configuration: ${lib.concatStringsSep "." path}: set package or attr, not both"
      else
        out // { attr = attrOfPackage self path v; };
  };
in
rec {
  /*
    The module evaluation (config, options) of a forge configuration, for
    documentation and for reading values back.
  */
  evalForgeConfiguration =
    { modules
    , self ? null
    , specialArgs ? { }
    }:
    lib.evalModules {
      modules = [{ options = generated.options { service = [ serviceModule ]; }; }] ++ modules;
      # forgeLib: this library (forgeLib.attic.deployCache, …) in the modules.
      specialArgs = { inherit self forgeLib; } // specialArgs;
    };

  /*
    What `forgeConfigurations.<name>` holds: the configuration as deploy.yaml
    would (plain data; `nix eval --json` prints it).
  */
  forgeConfiguration = args: renderer.render (hooks (args.self or null)) (evalForgeConfiguration args).config;
}

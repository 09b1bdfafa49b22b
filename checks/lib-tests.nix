# Tests of lib/ with nixpkgs' lib.runTests: the list of failures (empty when
# all pass). Run by `checks.<system>.lib-tests` and, with nixpkgs' lib from
# ../shared/nixpkgs-lib, by crates/forge/tests/it/nix_lib.rs.
{ lib }:
let
  forge = import ../lib { inherit lib; };
  key = "main-1:${lib.fixedWidthString 43 "A" ""}=";
  fails = e: (builtins.tryEval (builtins.deepSeq e e)).success == false;

  # A flake's `self` with plain derivations (never built here).
  drv =
    name: system:
    derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [
        "-c"
        "echo ${name} > $out"
      ];
    };
  self = {
    packages.x86_64-linux = {
      api = drv "api" "x86_64-linux";
      default = self.packages.x86_64-linux.api;
      worker = drv "worker" "x86_64-linux";
    };
    packages.aarch64-linux.api = drv "api" "aarch64-linux";
  };
  configure = modules: forge.forgeConfiguration { inherit self modules; };
in
lib.runTests {
  testSubstituterSettings = {
    expr = forge.substituterSettings {
      url = "https://c.example/main";
      publicKey = key;
      priority = 30;
    };
    expected = {
      extra-substituters = [ "https://c.example/main?priority=30" ];
      extra-trusted-public-keys = [ key ];
    };
  };
  testSubstituterSettingsRefusesOtherSchemes = {
    expr = fails (forge.substituterSettings {
      url = "s3://bucket";
      publicKey = key;
    });
    expected = true;
  };

  testPlatformTable = {
    expr = map forge.platform.ociPlatform forge.platform.systems;
    expected = [
      {
        os = "linux";
        architecture = "amd64";
      }
      {
        os = "linux";
        architecture = "arm64";
      }
    ];
  };
  testPlatformSystemOfAliases = {
    expr = map forge.platform.systemOf [
      "amd64"
      "x86_64"
      "arm64"
      "aarch64"
    ];
    expected = [
      "x86_64-linux"
      "x86_64-linux"
      "aarch64-linux"
      "aarch64-linux"
    ];
  };
  testPlatformUnknownSystem = {
    expr = fails (forge.platform.ociPlatform "riscv64-linux");
    expected = true;
  };

  testAtticDeployCache = {
    expr = map forge.attic.deployCache [
      {
        endpoint = "https://attic.example.com";
        cache = "main";
      }
      {
        endpoint = "http://10.0.0.1:8080/";
        cache = "ci";
        tokenEnv = "CI_ATTIC";
      }
    ];
    expected = [
      {
        url = "attic://attic.example.com/main";
        token_env = "ATTIC_TOKEN";
      }
      {
        url = "attic+http://10.0.0.1:8080/ci";
        token_env = "CI_ATTIC";
      }
    ];
  };
  testAtticSubstituterSettings = {
    expr = forge.attic.substituterSettings {
      endpoint = "https://attic.example.com";
      cache = "main";
      publicKey = key;
      netrcFile = "/run/forge/netrc";
    };
    expected = {
      extra-substituters = [ "https://attic.example.com/main" ];
      extra-trusted-public-keys = [ key ];
      netrc-file = "/run/forge/netrc";
    };
  };
  testAtticNetrcFileNotInStore = {
    expr = fails (forge.attic.substituterSettings {
      endpoint = "https://attic.example.com";
      cache = "main";
      publicKey = key;
      netrcFile = "${builtins.storeDir}/x-netrc";
    });
    expected = true;
  };
  testAtticRefusesEndpointWithPath = {
    expr = fails (forge.attic.deployCache {
      endpoint = "https://attic.example.com/main";
      cache = "main";
    });
    expected = true;
  };
  testAtticNetrcLine = {
    expr = forge.attic.netrcLine {
      endpoint = "https://attic.example.com:8443";
      tokenFile = "/run/secrets/attic token";
    };
    expected = "printf 'machine %s password %s\\n' attic.example.com \"$(cat '/run/secrets/attic token')\"";
  };

  testImageBuildArgs = {
    expr = forge.image.buildArgs {
      entrypoint = [
        "/bin/app"
        "--serve"
      ];
      cmd = "x";
      env.RUST_LOG = "info";
      labels."org.opencontainers.image.source" = "https://example.com/repo";
      expose = [
        8080
        "53/udp"
      ];
      max_layers = 20;
      compression = "zstd";
      arch = "arm64";
      user = "1000";
      workdir = "/srv";
    };
    expected = [
      "--entrypoint"
      ''["/bin/app","--serve"]''
      "--cmd"
      "x"
      "--env"
      "RUST_LOG=info"
      "--workdir"
      "/srv"
      "--user"
      "1000"
      "--label"
      "org.opencontainers.image.source=https://example.com/repo"
      "--expose"
      "8080"
      "--expose"
      "53/udp"
      "--max-layers"
      "20"
      "--compression"
      "zstd"
      "--arch"
      "arm64"
    ];
  };
  testImageBuildArgsRefusesUnknownKeys = {
    expr = fails (forge.image.buildArgs { ports = [ 80 ]; });
    expected = true;
  };

  # The configuration renders only what was set, in deploy.yaml's shape.
  testForgeConfigurationRendersWhatWasSet = {
    expr = configure [
      {
        registry = "ghcr.io/org";
        services.api = {
          package = self.packages.x86_64-linux.api;
          image.arch = [
            "amd64"
            "arm64"
          ];
          verify = [{ http.url = "http://{service}.{env}.svc/healthz"; }];
        };
        services.worker.attr = "worker";
        environments.staging = { };
        ledger.url_env = "FORGE_LEDGER_URL";
      }
    ];
    expected = {
      registry = "ghcr.io/org";
      services.api = {
        attr = "api";
        image.arch = [
          "amd64"
          "arm64"
        ];
        verify = [{ http.url = "http://{service}.{env}.svc/healthz"; }];
      };
      services.worker.attr = "worker";
      environments.staging = { };
      ledger.url_env = "FORGE_LEDGER_URL";
    };
  };
  testForgeConfigurationPrefersOwnNameOverDefault = {
    expr = (configure [{ services.api.package = self.packages.x86_64-linux.default; }]).services.api.attr;
    expected = "api";
  };
  testForgeConfigurationUnknownOption = {
    expr = fails (configure [{ services.api.imag = { }; }]);
    expected = true;
  };
  testForgeConfigurationTypeFromSchema = {
    expr = map fails [
      (configure [{ services.api.image.max_layers = 1; }])
      (configure [{ services.api.image.compression = "xz"; }])
      (configure [{ services.api.rollback = "sometimes"; }])
      (configure [{ environments.prod.timeouts.rollout = "ten minutes"; }])
      (configure [{ cache.token_env = "not a variable"; }])
      (configure [{ services.Api = { }; }])
      (configure [{ ledger = { path = "l.db"; url_env = "L"; }; }])
    ];
    expected = [
      true
      true
      true
      true
      true
      true
      true
    ];
  };
  # A secret written inline is refused (and its value never shown).
  testForgeConfigurationRefusesInlineSecrets = {
    expr = map fails [
      (configure [{ cache = { url = "attic://a/b"; token = "s3cr3t"; }; }])
      (configure [{ gitops = { repo = "https://g/r"; auth.password = "s3cr3t"; }; }])
      (configure [{ token = "s3cr3t"; }])
    ];
    expected = [
      true
      true
      true
    ];
  };
  # A schema keyword the translation does not know is an error, not dropped.
  testSchemaKeywordsAreNeverDropped =
    let
      optionsOf = schema: (import ../lib/deploy-config/options.nix { inherit lib schema; }).options { };
      typeOf = p: (optionsOf { type = "object"; properties.x = p; }).x.type.description;
    in
    {
      expr = map (p: fails (typeOf p)) [
        { type = "string"; minLength = 1; }
        { type = "string"; pattern = "abc"; }
        { type = "array"; items.type = "string"; minItems = 2; }
        { type = "string"; }
        { type = "string"; format = "uri"; "$comment" = "an annotation"; }
        { const = "v1"; }
        { oneOf = [{ type = "string"; } { type = "integer"; }]; }
      ];
      expected = [ true true true false false false false ];
    };
  testForgeConfigurationPackageChecks = {
    expr = map fails [
      # not a package of this flake
      (configure [{ services.api.package = drv "elsewhere" "x86_64-linux"; }])
      # both package and attr
      (configure [{ services.api = { package = self.packages.x86_64-linux.api; attr = "api"; }; }])
      # an architecture the flake has no such package for
      (configure [{ services.worker = { package = self.packages.x86_64-linux.worker; image.arch = "arm64"; }; }])
    ];
    expected = [
      true
      true
      true
    ];
  };
  # The template's configuration evaluates (with forgeLib) and says what it shows.
  testTemplateConfiguration = {
    expr =
      let
        c = configure [ ../templates/default/forge.nix ];
      in
      {
        inherit (c) cache;
        attr = c.services.api.attr;
        environments = builtins.attrNames c.environments;
      };
    expected = {
      cache = {
        url = "attic://attic.example.com/main";
        token_env = "ATTIC_TOKEN";
      };
      attr = "api";
      environments = [
        "production"
        "staging"
      ];
    };
  };
  testForgeConfigurationDefaultsAreDocumented = {
    expr =
      let
        o = (forge.evalForgeConfiguration { modules = [ ]; }).options;
      in
      [
        ((o.services.type.nestedTypes.elemType.getSubOptions [ ]) ? image)
        (o.environments.type.nestedTypes.elemType.nestedTypes.elemType.getSubOptions [ ]).cluster.defaultText.text
      ];
    expected = [
      true
      "true"
    ];
  };
}

# Evaluation tests of the NixOS modules with nixpkgs' lib.evalModules, against
# small stand-ins for the NixOS options they set (module-stand-ins.nix).
# Returns lib.runTests' failures (empty when all pass). Run by
# `checks.<system>.module-tests` and by crates/forge/tests/it/nix_modules.rs.
{ lib }:
let
  standIns = import ./module-stand-ins.nix { inherit lib; };
  inherit (standIns) pkgs fakePackage;
  provisionPkg = fakePackage "forge-provision";
  forgePkg = fakePackage "forge";
  eval =
    config:
    standIns.eval [
      {
        services.forge.provision.package = provisionPkg;
        services.forge.serve.package = forgePkg;
      }
      config
    ];
  failures = cfg: map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
  contains = needle: haystack: lib.hasInfix needle haystack;
  # The path of the file a command line names after `flag`.
  argAfter =
    flag: cmd:
    let
      words = lib.splitString " " cmd;
      i = lib.lists.findFirstIndex (w: w == flag) null words;
    in
    builtins.elemAt words (i + 1);

  postgresSpec = {
    roles = [
      {
        name = "app";
        login = true;
        password_file = "/run/credentials/forge-provision-postgres.service/app-password";
      }
    ];
    databases = [
      {
        name = "app";
        owner = "app";
      }
    ];
  };
  postgres = eval {
    services.postgresql.enable = true;
    services.forge.provision.postgres = {
      enable = true;
      settings = postgresSpec;
      credentials.app-password = "/run/secrets/app-password";
      startAt = "*:0/15";
    };
  };
  pgUnit = postgres.systemd.services.forge-provision-postgres;
  pgSpecFile = argAfter "--config" pgUnit.serviceConfig.ExecStart;

  checked = eval {
    services.forge.provision.metrics.textfileDirectory = "/var/lib/node-exporter";
    services.forge.provision.postgres = {
      enable = true;
      mode = "check";
      settings = postgresSpec;
      user = "postgres";
    };
  };
  checkUnit = checked.systemd.services.forge-provision-postgres;

  attic = eval {
    services.forge.provision.attic = {
      enable = true;
      settings = {
        server = {
          endpoint = "http://127.0.0.1:8080";
          token_file = "/run/credentials/forge-provision-attic.service/admin";
        };
        caches = [{ name = "main"; }];
        tokens = [
          {
            subject = "ci";
            validity = "90d";
            secret_file = "/run/credentials/forge-provision-attic.service/hs256";
            permissions.main = [
              "pull"
              "push"
            ];
            output_file = "/var/lib/attic-tokens/ci";
          }
        ];
      };
      credentials = {
        admin = "/run/secrets/attic-admin";
        hs256 = "/run/secrets/attic-hs256";
      };
    };
  };
  atticUnit = attic.systemd.services.forge-provision-attic;

  serveUrl = eval {
    services.forge.serve = {
      enable = true;
      ledger.urlFile = "/run/secrets/ledger-url";
      tokenFile = "/run/secrets/serve-token";
    };
  };
  serveUnit = serveUrl.systemd.services.forge-serve;
  serveScript = builtins.readFile serveUnit.serviceConfig.ExecStart;

  key = "main-1:${lib.fixedWidthString 43 "A" ""}=";
in
lib.runTests {
  testProvisionUnit = {
    expr = {
      inherit (pgUnit) after requires;
      inherit (pgUnit.serviceConfig)
        Type
        DynamicUser
        ProtectSystem
        LoadCredential
        SuccessExitStatus
        ;
      command = lib.head (lib.splitString " --config " pgUnit.serviceConfig.ExecStart);
    };
    expected = {
      after = [
        "network-online.target"
        "postgresql.service"
      ];
      requires = [ "postgresql.service" ];
      Type = "oneshot";
      DynamicUser = true;
      ProtectSystem = "strict";
      LoadCredential = [ "app-password:/run/secrets/app-password" ];
      SuccessExitStatus = [ ];
      command = "${provisionPkg.outPath}/bin/forge-provision postgres apply";
    };
  };
  # The spec is the Nix settings as JSON (which YAML reads), and holds no secret.
  testProvisionSpecFile = {
    expr = builtins.fromJSON (builtins.readFile pgSpecFile);
    expected = postgresSpec;
  };
  testProvisionSecretsStayOutOfTheStore = {
    expr = map (contains "/run/secrets/app-password") [
      (builtins.readFile pgSpecFile)
      (builtins.toJSON (removeAttrs pgUnit.serviceConfig [ "LoadCredential" ]))
    ];
    expected = [
      false
      false
    ];
  };
  testProvisionTimer = {
    expr = postgres.systemd.timers.forge-provision-postgres;
    expected = {
      description = "Forge: converge postgres on a schedule";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = "*:0/15";
        RandomizedDelaySec = "5m";
        Persistent = true;
      };
    };
  };
  testProvisionNotLocalWithoutPostgresql = {
    expr = checkUnit.after;
    expected = [ "network-online.target" ];
  };
  testProvisionCheckModeWithMetrics = {
    expr =
      let
        script = builtins.readFile checkUnit.serviceConfig.ExecStart;
      in
      {
        inherit (checkUnit.serviceConfig) SuccessExitStatus ReadWritePaths User;
        dynamic = checkUnit.serviceConfig ? DynamicUser;
        checks = contains "postgres apply --config" script && contains "--check" script;
        metric = contains ''forge_provision_drift{target="postgres"} $drift'' script;
        atomic = contains "mv \"$tmp\" /var/lib/node-exporter/forge-provision-postgres.prom" script;
      };
    expected = {
      SuccessExitStatus = [ 4 ];
      ReadWritePaths = [ "/var/lib/node-exporter" ];
      User = "postgres";
      dynamic = false;
      checks = true;
      metric = true;
      atomic = true;
    };
  };
  testProvisionAtticUnit = {
    expr = {
      inherit (atticUnit.serviceConfig) ReadWritePaths LoadCredential;
      command = lib.head (lib.splitString " --config " atticUnit.serviceConfig.ExecStart);
      noPostgres = attic.systemd.services ? forge-provision-postgres;
    };
    expected = {
      ReadWritePaths = [ "/var/lib/attic-tokens" ];
      LoadCredential = [
        "admin:/run/secrets/attic-admin"
        "hs256:/run/secrets/attic-hs256"
      ];
      command = "${provisionPkg.outPath}/bin/forge-provision attic apply";
      noPostgres = false;
    };
  };
  testProvisionNothingEnabledNothingRendered = {
    expr = (eval { }).systemd;
    expected = {
      services = { };
      timers = { };
    };
  };
  testProvisionAssertions = {
    expr = map failures [
      (eval {
        services.forge.provision.postgres = {
          enable = true;
          settings.roles = [
            {
              name = "app";
              password = "hunter2";
            }
          ];
        };
      })
      (eval {
        services.forge.provision.attic = {
          enable = true;
          settings.server.token_file = "${builtins.storeDir}/00000000000000000000000000000000-token";
          credentials."bad name" = "relative/path";
        };
      })
      (eval { services.forge.provision.postgres.enable = true; })
    ];
    expected = [
      [
        "services.forge.provision.postgres.settings.roles[0].password: secrets are never written in the spec (it is in the world-readable Nix store); use password_file = \"/run/credentials/forge-provision-postgres.service/NAME\" and services.forge.provision.postgres.credentials.NAME = \"/path/to/secret\"."
      ]
      [
        "services.forge.provision.attic.settings.server.token_file points into the Nix store, where every user can read it: put the secret in a file outside the store, list it in services.forge.provision.attic.credentials and point to /run/credentials/forge-provision-attic.service/NAME."
        "services.forge.provision.attic.credentials: bad name: names must be [A-Za-z0-9_.-]+ and files absolute paths outside the Nix store."
      ]
      [
        "services.forge.provision.postgres.enable is set but services.forge.provision.postgres.settings is empty: write the spec forge-provision should converge to (see examples/provision/postgres.yaml)."
      ]
    ];
  };

  testServeWithLedgerUrlCredential = {
    expr = {
      inherit (serveUnit.serviceConfig) LoadCredential DynamicUser ProtectSystem;
      inherit (serveUnit) wantedBy;
      readsCredential = contains ''FORGE_LEDGER=$(cat "$CREDENTIALS_DIRECTORY/ledger-url")'' serveScript;
      runs = contains "exec ${forgePkg.outPath}/bin/forge serve --listen 127.0.0.1:8475 --refresh 15s --token-file \"$CREDENTIALS_DIRECTORY\"/token" serveScript;
      failures = failures serveUrl;
    };
    expected = {
      LoadCredential = [
        "ledger-url:/run/secrets/ledger-url"
        "token:/run/secrets/serve-token"
      ];
      DynamicUser = true;
      ProtectSystem = "strict";
      wantedBy = [ "multi-user.target" ];
      readsCredential = true;
      runs = true;
      failures = [ ];
    };
  };
  testServeWithSqlite = {
    expr =
      let
        u =
          (eval {
            services.forge.serve = {
              enable = true;
              ledger.path = "/var/lib/forge/ledger.db";
              config = "flake:github:example/app#default";
              user = "forge";
            };
          }).systemd.services.forge-serve;
      in
      {
        inherit (u) environment;
        path = map (p: p.name) u.path;
        inherit (u.serviceConfig) ExecStart ReadWritePaths User CacheDirectory;
      };
    expected = {
      # A flake configuration is read with nix, which needs a cache directory.
      environment.XDG_CACHE_HOME = "/var/cache/forge-serve";
      path = [ "nix" ];
      CacheDirectory = "forge-serve";
      ExecStart = "${forgePkg.outPath}/bin/forge serve --listen 127.0.0.1:8475 --refresh 15s --config 'flake:github:example/app#default' --ledger /var/lib/forge/ledger.db";
      ReadWritePaths = [ "/var/lib/forge" ];
      User = "forge";
    };
  };
  testServeAssertions = {
    expr = map failures [
      (eval { services.forge.serve.enable = true; })
      (eval {
        services.forge.serve = {
          enable = true;
          ledger.urlFile = "${builtins.storeDir}/x-url";
          listen = "8470";
        };
      })
      (eval {
        services.forge.serve = {
          enable = true;
          ledger.path = "/var/lib/forge/ledger.db";
          listen = "0.0.0.0:8475";
        };
      })
    ];
    expected = [
      [
        "services.forge.serve: set exactly one of ledger.urlFile (PostgreSQL: a file holding the postgres:// URL) and ledger.path (an SQLite file)."
      ]
      [
        "services.forge.serve.ledger.urlFile must be an absolute path outside the Nix store (the URL holds a password); got \"${builtins.storeDir}/x-url\"."
        "services.forge.serve.listen must be ADDR:PORT (e.g. 127.0.0.1:8475); got \"8470\"."
        "services.forge.serve.listen is 8470, not loopback: set services.forge.serve.tokenFile (forge serve requires a bearer token off loopback), or listen on 127.0.0.1."
      ]
      [
        "services.forge.serve.listen is 0.0.0.0:8475, not loopback: set services.forge.serve.tokenFile (forge serve requires a bearer token off loopback), or listen on 127.0.0.1."
      ]
    ];
  };
  testServeTokenCredential = {
    expr =
      let
        u =
          (eval {
            services.forge.serve = {
              enable = true;
              ledger.path = "/var/lib/forge/ledger.db";
              listen = "0.0.0.0:8475";
              tokenFile = "/run/secrets/serve-token";
            };
          }).systemd.services.forge-serve;
      in
      {
        inherit (u.serviceConfig) LoadCredential;
        token = contains "--token-file %d/token" u.serviceConfig.ExecStart;
      };
    expected = {
      LoadCredential = [ "token:/run/secrets/serve-token" ];
      token = true;
    };
  };

  testCacheClientSettings = {
    expr =
      (eval {
        services.forge.cacheClient = {
          enable = true;
          url = "https://attic.example.com/main";
          publicKey = key;
          priority = 30;
          netrcFile = "/run/secrets/attic-netrc";
        };
      }).nix.settings;
    expected = {
      extra-substituters = [ "https://attic.example.com/main?priority=30" ];
      extra-trusted-public-keys = [ key ];
      netrc-file = "/run/secrets/attic-netrc";
    };
  };
  testCacheClientAssertions = {
    expr = failures (eval {
      services.forge.cacheClient = {
        enable = true;
        url = "s3://bucket";
        publicKey = "main-1";
        netrcFile = "${builtins.storeDir}/x-netrc";
      };
    });
    expected = [
      "services.forge.cacheClient.url must start with file://, http:// or https:// (got \"s3://bucket\"); for Attic use the server's URL followed by the cache name."
      "services.forge.cacheClient.publicKey must be name:base64 (a 32-byte ed25519 key), as `forge cache keygen` prints it; got \"main-1\"."
      "services.forge.cacheClient.netrcFile must be an absolute path outside the Nix store (it holds a token; the store is world-readable); got \"${builtins.storeDir}/x-netrc\"."
    ];
  };
}

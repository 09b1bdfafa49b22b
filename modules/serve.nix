# NixOS module: `forge serve`, the read-only status server over the release
# ledger, as a hardened systemd service. A PostgreSQL ledger's URL (it holds
# a password) and the API's bearer token come from credential files, read
# when the service starts and never written to the store; an SQLite ledger
# is named by its path.
{ config
, lib
, pkgs
, ...
}:
let
  cfg = config.services.forge.serve;
  inherit (lib) types mkOption;
  hardening = import ./systemd-hardening.nix;
  credential = "ledger-url";
  loopback = builtins.match "(127[.][0-9.]+|localhost|[[]::1]):[0-9]+" cfg.listen != null;
  args = [
    "${cfg.package}/bin/forge"
    "serve"
    "--listen"
    cfg.listen
    "--refresh"
    cfg.refresh
  ]
  ++ lib.optionals (cfg.config != null) [
    "--config"
    cfg.config
  ]
  ++ lib.optionals (cfg.ledger.path != null) [
    "--ledger"
    cfg.ledger.path
  ]
  ++ cfg.extraArgs;
  # Where systemd puts the token credential: %d in the unit, $CREDENTIALS_DIRECTORY in a script.
  tokenArgs = dir: lib.optionalString (cfg.tokenFile != null) " --token-file ${dir}/token";
  # FORGE_LEDGER from the credential, then forge itself.
  start = pkgs.writeShellScript "forge-serve-start" ''
    FORGE_LEDGER=$(cat "$CREDENTIALS_DIRECTORY/${credential}")
    export FORGE_LEDGER
    exec ${lib.escapeShellArgs args}${tokenArgs ''"$CREDENTIALS_DIRECTORY"''}
  '';
  # A flake configuration is read with `nix eval`, which caches under $XDG_CACHE_HOME.
  flakeConfig = cfg.config != null && lib.hasPrefix "flake:" cfg.config;
in
{
  options.services.forge.serve = {
    enable = lib.mkEnableOption "the Forge status server (forge serve)";
    package = mkOption {
      type = types.package;
      description = "The forge package (the flake's nixosModules set it).";
    };
    listen = mkOption {
      type = types.str;
      default = "127.0.0.1:8475";
      description = "Address and port to listen on (ADDR:PORT); anything but loopback needs tokenFile.";
    };
    tokenFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/forge-serve-token";
      description = "A file holding the bearer token every request but /healthz must send (loaded as a systemd credential).";
    };
    config = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "flake:github:example/app#default";
      description = "The deployment configuration whose services and environments are shown: a deploy.yaml path or flake:REF#NAME.";
    };
    refresh = mkOption {
      type = types.strMatching "([0-9]+[smh])+";
      default = "15s";
      description = "How often the status snapshot is gathered again.";
    };
    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        KUBECONFIG = "/etc/forge/kubeconfig";
      };
      description = "Environment variables (no secrets: the unit file is in the store).";
    };
    ledger = {
      urlFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/forge-ledger-url";
        description = "A file holding the ledger's postgres:// URL (loaded as a systemd credential, never read into the store).";
      };
      path = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/var/lib/forge/ledger.db";
        description = "An SQLite ledger on this machine (its directory is made readable and, for SQLite's WAL index, writable to the service).";
      };
    };
    user = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Run as this user (e.g. the owner of an SQLite ledger); null: a DynamicUser.";
    };
    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More arguments for `forge serve`.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.ledger.urlFile == null) != (cfg.ledger.path == null);
        message = "services.forge.serve: set exactly one of ledger.urlFile (PostgreSQL: a file holding the postgres:// URL) and ledger.path (an SQLite file).";
      }
      {
        assertion = cfg.ledger.urlFile == null || lib.hasPrefix "/" cfg.ledger.urlFile && !lib.hasPrefix builtins.storeDir cfg.ledger.urlFile;
        message = "services.forge.serve.ledger.urlFile must be an absolute path outside the Nix store (the URL holds a password); got ${builtins.toJSON cfg.ledger.urlFile}.";
      }
      {
        assertion = builtins.match ".+:[0-9]+" cfg.listen != null;
        message = "services.forge.serve.listen must be ADDR:PORT (e.g. 127.0.0.1:8475); got ${builtins.toJSON cfg.listen}.";
      }
      {
        assertion = loopback || cfg.tokenFile != null;
        message = "services.forge.serve.listen is ${cfg.listen}, not loopback: set services.forge.serve.tokenFile (forge serve requires a bearer token off loopback), or listen on 127.0.0.1.";
      }
      {
        assertion = cfg.tokenFile == null || lib.hasPrefix "/" cfg.tokenFile && !lib.hasPrefix builtins.storeDir cfg.tokenFile;
        message = "services.forge.serve.tokenFile must be an absolute path outside the Nix store; got ${builtins.toJSON cfg.tokenFile}.";
      }
    ];

    systemd.services.forge-serve = {
      description = "Forge status server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      environment = lib.optionalAttrs flakeConfig { XDG_CACHE_HOME = "/var/cache/forge-serve"; } // cfg.environment;
      path = lib.optional flakeConfig config.nix.package;
      serviceConfig =
        hardening
        // {
          ExecStart = if cfg.ledger.urlFile != null then "${start}" else lib.escapeShellArgs args + tokenArgs "%d";
          Restart = "on-failure";
          RestartSec = "5s";
          LoadCredential =
            lib.optional (cfg.ledger.urlFile != null) "${credential}:${cfg.ledger.urlFile}"
            ++ lib.optional (cfg.tokenFile != null) "token:${cfg.tokenFile}";
          ReadWritePaths = lib.optional (cfg.ledger.path != null) (dirOf cfg.ledger.path);
        }
        // lib.optionalAttrs flakeConfig { CacheDirectory = "forge-serve"; }
        // (if cfg.user == null then { DynamicUser = true; } else { User = cfg.user; });
    };
  };
}

# NixOS module: `forge agent`, the pull side of a host's deploys. It watches
# the host's pin in the GitOps repository (`forge deploy HOST` writes it) and
# switches to the pinned system: substituted only with a trusted signature,
# `switch-to-configuration test`, health checks within the confirm timeout,
# then `boot`, or back to the previous generation.
#
# The unit is not restarted by a switch (restartIfChanged = false): the agent
# runs switch-to-configuration itself and must outlive it; a newer agent
# takes over on the next boot or `systemctl restart forge-agent`. Most of
# systemd's sandboxing is incompatible with activating a system (it writes
# /etc, /boot, the profile, setuid wrappers, the hostname, users' homes), so
# only the settings that activation never needs are on.
{ config
, lib
, pkgs
, ...
}:
let
  cfg = config.services.forge.agent;
  inherit (lib) types mkOption;
  absoluteOutsideStore = p: p == null || lib.hasPrefix "/" p && !lib.hasPrefix builtins.storeDir p;
  keyShape = k: builtins.match "[^:]+:[A-Za-z0-9+/]{43}=" k != null;
  duration = types.strMatching "([0-9]+[smh])+";

  checkModule = types.submodule {
    options = {
      name = mkOption {
        type = types.str;
        description = "The check's name in reports.";
      };
      command = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
        example = [ "/run/current-system/sw/bin/curl" "-fsS" "http://127.0.0.1/healthz" ];
        description = "A command run by the agent (as root) with FORGE_SERVICE (the host), FORGE_ENV, FORGE_IMAGE (the system's store path) and FORGE_RELEASE set; exit status 0 passes.";
      };
      http = mkOption {
        type = types.nullOr (types.submodule {
          options = {
            url = mkOption {
              type = types.str;
              description = "The URL to GET.";
            };
            status = mkOption {
              type = types.int;
              default = 200;
              description = "The expected status.";
            };
            bodyContains = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = "Text the body must contain.";
            };
          };
        });
        default = null;
        description = "An HTTP GET that must answer with the status (and text).";
      };
      interval = mkOption {
        type = duration;
        default = "5s";
        description = "Time between attempts.";
      };
      count = mkOption {
        type = types.ints.positive;
        default = 1;
        description = "Passing attempts needed.";
      };
      failureLimit = mkOption {
        type = types.ints.unsigned;
        default = 0;
        description = "Failed attempts tolerated.";
      };
      timeout = mkOption {
        type = duration;
        default = "30s";
        description = "Limit of one attempt.";
      };
    };
  };
  renderCheck = c: {
    inherit (c) name interval count timeout;
    failure_limit = c.failureLimit;
    probe =
      if c.command != null then { command.argv = c.command; }
      else {
        http = {
          inherit (c.http) url status;
        } // lib.optionalAttrs (c.http.bodyContains != null) { body_contains = c.http.bodyContains; };
      };
  };

  settings = {
    inherit (cfg) host environment;
    repo = cfg.repository;
    inherit (cfg) branch;
    state_dir = "/var/lib/forge-agent";
    interval_seconds = cfg.interval;
    jitter_seconds = cfg.jitter;
    cache_url = cfg.cacheUrl;
    trusted_keys = cfg.trustedKeys;
    allow_failed_units = cfg.allowFailedUnits;
    checks = map renderCheck cfg.healthChecks;
    pin_commands = cfg.pinCommands;
    reach_back = cfg.reachBack;
    nix = "${config.nix.package}/bin/nix";
    nix_env = "${config.nix.package}/bin/nix-env";
    systemctl = [ cfg.systemctl ];
  }
  # Relative: read from $CREDENTIALS_DIRECTORY (LoadCredential).
  // lib.optionalAttrs (cfg.tokenFile != null) { token_file = "git-token"; }
  // lib.optionalAttrs (cfg.sshKeyFile != null) { ssh_key_file = "git-ssh-key"; }
  // lib.optionalAttrs (cfg.ledger.urlFile != null) { ledger_url_file = "ledger-url"; }
  // lib.optionalAttrs (cfg.ledger.path != null) { ledger_path = cfg.ledger.path; }
  // lib.optionalAttrs cfg.wakeSocket { wake_socket = "/run/forge-agent/wake.sock"; }
  // lib.optionalAttrs (cfg.metrics.textfileDirectory != null) {
    metrics_file = "${cfg.metrics.textfileDirectory}/forge-agent.prom";
  };
  configFile = pkgs.writeText "forge-agent.json" (builtins.toJSON settings);
in
{
  options.services.forge.agent = {
    enable = lib.mkEnableOption "the Forge agent (forge agent): pull-based, health-checked deploys of this host";
    package = mkOption {
      type = types.package;
      description = "The forge package (the flake's nixosModules set it).";
    };
    host = mkOption {
      type = types.strMatching "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
      example = "web1";
      description = "This host's name in deploy.yaml's hosts: (its pin is hosts/ENV/HOST.json).";
    };
    environment = mkOption {
      type = types.strMatching "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
      example = "production";
      description = "The environment the host belongs to.";
    };
    repository = mkOption {
      type = types.str;
      example = "https://github.com/example/gitops.git";
      description = "The GitOps repository `forge deploy` commits pins to (HTTPS or SSH; no credentials in the URL).";
    };
    branch = mkOption {
      type = types.str;
      default = "main";
      description = "The branch to watch.";
    };
    tokenFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/gitops-token";
      description = "A file holding an HTTPS token for the repository (loaded as a systemd credential).";
    };
    sshKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/gitops-deploy-key";
      description = "An unencrypted SSH key for the repository (loaded as a systemd credential).";
    };
    interval = mkOption {
      type = types.ints.positive;
      default = 60;
      description = "Seconds between fetches of the branch (SIGHUP fetches at once).";
    };
    jitter = mkOption {
      type = types.ints.unsigned;
      default = 15;
      description = "Up to this many seconds are added to each interval, so hosts do not fetch in step.";
    };
    cacheUrl = mkOption {
      type = types.str;
      example = "https://attic.example.com/main";
      description = "The binary cache the system closures are substituted from.";
    };
    trustedKeys = mkOption {
      type = types.listOf types.str;
      example = [ "cache.example.com-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" ];
      description = "Public keys (name:base64) one of which must have signed a pinned system; anything else is refused without switching.";
    };
    healthChecks = mkOption {
      type = types.listOf checkModule;
      default = [ ];
      description = "Checks that must pass after `switch-to-configuration test`, within the pin's confirm timeout.";
    };
    allowFailedUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "systemd-networkd-wait-online.service" "user@*" ];
      description = "Failed systemd units that do not fail the health check (a name, or a prefix ending in *).";
    };
    pinCommands = mkOption {
      type = types.bool;
      default = false;
      description = "Run the command checks deploy.yaml wrote into the pin (as root); off: only its HTTP checks run, since whoever can push to the branch could otherwise run commands here.";
    };
    wakeSocket = mkOption {
      type = types.bool;
      default = false;
      description = "Listen on /run/forge-agent/wake.sock: any connection starts a pass at once (e.g. from a CI hook over SSH), as SIGHUP does.";
    };
    reachBack = mkOption {
      type = types.bool;
      default = true;
      description = "Require the new system to still reach the GitOps repository before it is confirmed.";
    };
    systemctl = mkOption {
      type = types.str;
      default = "/run/current-system/systemd/bin/systemctl";
      description = "The systemctl asked for failed units.";
    };
    ledger = {
      urlFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/forge-ledger-url";
        description = "A file holding the release ledger's postgres:// URL (loaded as a systemd credential): each outcome becomes an audit event there (host.deployed, host.rolled_back, host.refused), kept in the state file until the ledger can be reached.";
      };
      path = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "An SQLite ledger on this machine, instead of urlFile.";
      };
    };
    metrics.textfileDirectory = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/prometheus-node-exporter-text-files";
      description = "Write forge-agent.prom (current system, pending switch, last outcome, failed pins) here for node_exporter's textfile collector.";
    };
    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More arguments for `forge agent`.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.trustedKeys != [ ] && lib.all keyShape cfg.trustedKeys;
        message = "services.forge.agent.trustedKeys must list at least one public key as name:base64 (as `forge cache keygen` prints it); got ${builtins.toJSON cfg.trustedKeys}.";
      }
      {
        assertion = cfg.tokenFile == null || cfg.sshKeyFile == null;
        message = "services.forge.agent: set tokenFile (HTTPS) or sshKeyFile (SSH), not both.";
      }
      {
        assertion = absoluteOutsideStore cfg.tokenFile && absoluteOutsideStore cfg.sshKeyFile;
        message = "services.forge.agent.tokenFile and sshKeyFile must be absolute paths outside the Nix store (they hold secrets; the store is world-readable).";
      }
      {
        assertion = cfg.ledger.urlFile == null || cfg.ledger.path == null;
        message = "services.forge.agent: set ledger.urlFile (PostgreSQL) or ledger.path (SQLite), not both.";
      }
      {
        assertion = absoluteOutsideStore cfg.ledger.urlFile;
        message = "services.forge.agent.ledger.urlFile must be an absolute path outside the Nix store (the URL holds a password).";
      }
      {
        assertion = builtins.match "[a-z+]+://[^:/]*:[^@/]*@.*" cfg.repository == null;
        message = "services.forge.agent.repository holds a password or token: use tokenFile instead.";
      }
      {
        assertion = builtins.match "(file|https?)://.+" cfg.cacheUrl != null;
        message = "services.forge.agent.cacheUrl must start with file://, http:// or https://; got ${builtins.toJSON cfg.cacheUrl}.";
      }
      {
        assertion = lib.all (c: (c.command == null) != (c.http == null)) cfg.healthChecks;
        message = "services.forge.agent.healthChecks: each check is exactly one of command and http.";
      }
    ];

    systemd.services.forge-agent = {
      description = "Forge agent: pull-based deploys of this host";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      # A switch must not stop the agent that runs it.
      restartIfChanged = false;
      stopIfChanged = false;
      serviceConfig = {
        ExecStart = lib.escapeShellArgs ([ "${cfg.package}/bin/forge" "agent" "--config" "${configFile}" ] ++ cfg.extraArgs);
        ExecReload = "/run/current-system/sw/bin/kill -HUP $MAINPID";
        Restart = "always";
        RestartSec = "10s";
        StateDirectory = "forge-agent";
        RuntimeDirectory = "forge-agent";
        StateDirectoryMode = "0700";
        LoadCredential =
          lib.optional (cfg.tokenFile != null) "git-token:${cfg.tokenFile}"
          ++ lib.optional (cfg.sshKeyFile != null) "git-ssh-key:${cfg.sshKeyFile}"
          ++ lib.optional (cfg.ledger.urlFile != null) "ledger-url:${cfg.ledger.urlFile}";
        # What activation never needs.
        LockPersonality = true;
        RestrictRealtime = true;
        SystemCallArchitectures = "native";
        ProtectKernelLogs = true;
        UMask = "0077";
      };
    };
  };
}

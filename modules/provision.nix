# NixOS module: forge-provision on a timer, converging PostgreSQL and/or
# Attic from specs written in Nix (rendered to the YAML forge-provision
# reads; JSON is YAML). Secrets reach it through systemd credentials
# (LoadCredential), never through the store: the spec names them with
# *_file = "${credentialsDirectory}/NAME". With mode = "check" nothing is
# changed and drift is reported by the exit status (4) and, with
# metrics.textfileDirectory, a Prometheus textfile-collector metric.
{ config
, lib
, pkgs
, ...
}:
let
  top = config.services.forge.provision;
  inherit (lib) types mkOption;
  hardening = import ./systemd-hardening.nix;
  # forge-provision's exit status for "changes pending" under --check
  # (forge_core::exit_status; 0 converged, 1 failed, 2 usage or spec error).
  changesPending = 4;
  unitName = target: "forge-provision-${target}";

  # Keys whose values would be secrets written inline.
  inlineSecretKeys = [
    "password"
    "token"
    "secret"
  ];
  # "a.b.c" paths of every key in `v` (lists as [i]) satisfying `pred key value`.
  findKeys =
    pred: path: v:
    if builtins.isAttrs v then
      lib.concatLists
        (
          lib.mapAttrsToList
            (
              k: x: lib.optional (pred k x) "${path}.${k}" ++ findKeys pred "${path}.${k}" x
            )
            v
        )
    else if builtins.isList v then
      lib.concatLists (lib.imap0 (i: x: findKeys pred "${path}[${toString i}]" x) v)
    else
      [ ];

  targetOptions =
    target: example:
    { config, ... }:
    {
      options = {
        enable = lib.mkEnableOption "converging ${target} with forge-provision";
        settings = mkOption {
          type = types.attrsOf types.anything;
          default = { };
          inherit example;
          description = ''
            The spec forge-provision reads (see examples/provision/${target}.yaml), as Nix.
            Secrets are files: `password_file`, `token_file`, `secret_file` pointing into
            `credentialsDirectory`, loaded from `credentials`.
          '';
        };
        credentials = mkOption {
          type = types.attrsOf types.str;
          default = { };
          example = {
            app-password = "/run/secrets/app-password";
          };
          description = "Credentials (name = file on this machine), passed with systemd's LoadCredential; the spec reads them from `credentialsDirectory`/NAME.";
        };
        credentialsDirectory = mkOption {
          type = types.str;
          readOnly = true;
          default = "/run/credentials/${unitName target}.service";
          description = "Where the unit finds its credentials (systemd's $CREDENTIALS_DIRECTORY).";
        };
        mode = mkOption {
          type = types.enum [
            "apply"
            "check"
          ];
          default = "apply";
          description = "`apply` converges; `check` changes nothing and reports drift (exit status 4, and the metric).";
        };
        startAt = mkOption {
          type = types.str;
          default = "hourly";
          description = "When to run (systemd OnCalendar).";
        };
        randomizedDelaySec = mkOption {
          type = types.str;
          default = "5m";
          description = "Random delay added to each run (systemd RandomizedDelaySec), so a fleet does not run at once.";
        };
        persistent = mkOption {
          type = types.bool;
          default = true;
          description = "Run at boot when a run was missed while the machine was off (systemd Persistent).";
        };
        user = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "Run as this user (e.g. `postgres` for peer authentication); null: a DynamicUser.";
        };
        environment = mkOption {
          type = types.attrsOf types.str;
          default = { };
          example = {
            DATABASE_URL = "postgresql://postgres@localhost/postgres";
          };
          description = "Environment variables (no secrets: they are in the unit file, in the store).";
        };
        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "--wait"
            "120"
          ];
          description = "More arguments for `forge-provision ${target} apply`.";
        };
      };
    };

  enabled = lib.filterAttrs (_: t: t.enable) {
    inherit (top) postgres attic;
  };

  specFile = target: t: pkgs.writeText "${unitName target}.yaml" (builtins.toJSON t.settings);

  command =
    target: t:
    [
      "${top.package}/bin/forge-provision"
      target
      "apply"
      "--config"
      "${specFile target t}"
    ]
    ++ lib.optional (t.mode == "check") "--check"
    ++ lib.optional (target == "postgres" && t.allowPrune) "--allow-prune"
    ++ t.extraArgs;

  # Runs forge-provision and records what it found for the textfile collector.
  withMetrics =
    target: t: dir:
    pkgs.writeShellScript "${unitName target}-run" ''
      status=0
      ${lib.escapeShellArgs (command target t)} || status=$?
      drift=0
      if [ "$status" = ${toString changesPending} ]; then drift=1; fi
      failed=0
      if [ "$status" != 0 ] && [ "$status" != ${toString changesPending} ]; then failed=1; fi
      tmp=$(mktemp ${lib.escapeShellArg dir}/.${unitName target}.XXXXXX)
      cat > "$tmp" <<METRICS
      # HELP forge_provision_drift 1 when the last run found changes pending (check mode).
      # TYPE forge_provision_drift gauge
      forge_provision_drift{target="${target}"} $drift
      # HELP forge_provision_failed 1 when the last run failed.
      # TYPE forge_provision_failed gauge
      forge_provision_failed{target="${target}"} $failed
      # HELP forge_provision_last_run_timestamp_seconds When the last run ended.
      # TYPE forge_provision_last_run_timestamp_seconds gauge
      forge_provision_last_run_timestamp_seconds{target="${target}"} $(date +%s)
      METRICS
      chmod 0644 "$tmp"
      mv "$tmp" ${lib.escapeShellArg dir}/${unitName target}.prom
      exit "$status"
    '';

  outputDirs = t: lib.unique (map (tok: dirOf tok.output_file) (builtins.filter (tok: tok ? output_file) (t.settings.tokens or [ ])));

  unit =
    target: t:
    let
      local = if target == "postgres" then t.local else false;
      dir = top.metrics.textfileDirectory;
    in
    {
      description = "Forge: converge ${target} (forge-provision, ${t.mode})";
      after = [ "network-online.target" ] ++ lib.optional local "postgresql.service";
      wants = [ "network-online.target" ];
      requires = lib.optional local "postgresql.service";
      inherit (t) environment;
      serviceConfig =
        hardening
        // {
          Type = "oneshot";
          ExecStart = if dir == null then lib.escapeShellArgs (command target t) else "${withMetrics target t dir}";
          # "Changes pending" under --check: drift is reported, not a failed unit.
          SuccessExitStatus = lib.optional (t.mode == "check") changesPending;
          LoadCredential = lib.mapAttrsToList (n: p: "${n}:${p}") t.credentials;
          ReadWritePaths = outputDirs t ++ lib.optional (dir != null) dir;
        }
        // (if t.user == null then { DynamicUser = true; } else { User = t.user; });
    };
in
{
  options.services.forge.provision = {
    package = mkOption {
      type = types.package;
      description = "The forge-provision package (the flake's nixosModules set it).";
    };
    postgres = mkOption {
      type = types.submodule [
        (targetOptions "postgres" {
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
        })
        {
          options.local = mkOption {
            type = types.bool;
            default = config.services.postgresql.enable or false;
            defaultText = lib.literalExpression "config.services.postgresql.enable";
            description = "PostgreSQL runs on this machine: the unit is ordered after (and requires) postgresql.service.";
          };
          options.allowPrune = mkOption {
            type = types.bool;
            default = false;
            description = "Pass --allow-prune: drops and revokes in the sections that set `prune`.";
          };
        }
      ];
      default = { };
      description = "Converging PostgreSQL.";
    };
    attic = mkOption {
      type = types.submodule (targetOptions "attic" {
        server = {
          endpoint = "http://127.0.0.1:8080";
          token_file = "/run/credentials/forge-provision-attic.service/admin-token";
        };
        caches = [
          {
            name = "main";
            public = false;
          }
        ];
      });
      default = { };
      description = "Converging Attic caches and tokens.";
    };
    metrics.textfileDirectory = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/prometheus-node-exporter-text-files";
      description = "Write forge_provision_drift, _failed and _last_run_timestamp_seconds here after each run (node exporter's textfile collector).";
    };
  };

  config = lib.mkIf (enabled != { }) {
    assertions = lib.concatLists (
      lib.mapAttrsToList
        (
          target: t:
            let
              opt = "services.forge.provision.${target}";
              inline = findKeys (k: _: builtins.elem k inlineSecretKeys) "${opt}.settings" t.settings;
              inStore = findKeys
                (
                  k: v: lib.hasSuffix "_file" k && k != "output_file" && builtins.isString v && lib.hasPrefix builtins.storeDir v
                ) "${opt}.settings"
                t.settings;
              badCredentials = lib.filterAttrs
                (
                  n: p: builtins.match "[A-Za-z0-9_.-]+" n == null || lib.hasPrefix builtins.storeDir p || !lib.hasPrefix "/" p
                )
                t.credentials;
            in
            [
              {
                assertion = t.settings != { };
                message = "${opt}.enable is set but ${opt}.settings is empty: write the spec forge-provision should converge to (see examples/provision/${target}.yaml).";
              }
              {
                assertion = inline == [ ];
                message = "${builtins.head inline}: secrets are never written in the spec (it is in the world-readable Nix store); use ${lib.last (lib.splitString "." (builtins.head inline))}_file = \"${t.credentialsDirectory}/NAME\" and ${opt}.credentials.NAME = \"/path/to/secret\".";
              }
              {
                assertion = inStore == [ ];
                message = "${builtins.head inStore} points into the Nix store, where every user can read it: put the secret in a file outside the store, list it in ${opt}.credentials and point to ${t.credentialsDirectory}/NAME.";
              }
              {
                assertion = badCredentials == { };
                message = "${opt}.credentials: ${lib.concatStringsSep ", " (builtins.attrNames badCredentials)}: names must be [A-Za-z0-9_.-]+ and files absolute paths outside the Nix store.";
              }
            ]
        )
        enabled
    );

    systemd.services = lib.mapAttrs' (target: t: lib.nameValuePair (unitName target) (unit target t)) enabled;

    systemd.timers = lib.mapAttrs'
      (
        target: t:
          lib.nameValuePair (unitName target) {
            description = "Forge: converge ${target} on a schedule";
            wantedBy = [ "timers.target" ];
            timerConfig = {
              OnCalendar = t.startAt;
              RandomizedDelaySec = t.randomizedDelaySec;
              Persistent = t.persistent;
            };
          }
      )
      enabled;
  };
}

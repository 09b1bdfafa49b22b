//! `services.forge.agent` (modules/agent.nix), evaluated with nixpkgs' lib
//! against the NixOS stand-ins: the unit it renders, the configuration file
//! it writes (read by the real `forge agent`), and its assertions.

use crate::nix_lib::{eval, repo};
use crate::support::{forge, stderr};

const KEY: &str = "cache.example.com-1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";

fn eval_agent(settings: &str, what: &str) -> serde_json::Value {
    eval(&format!(
        r#"let
          s = import {repo}/checks/module-stand-ins.nix {{ inherit lib; }};
          config = (lib.evalModules {{
            modules = [ s.nixosStandIns {repo}/modules/agent.nix {{
              services.forge.agent = {{ enable = true; package = s.fakePackage "forge"; }} // ({settings});
            }} ];
            specialArgs.pkgs = s.pkgs;
          }}).config;
          unit = config.systemd.services.forge-agent or {{ }};
        in {what}"#,
        repo = repo().display()
    ))
}

const GOOD: &str = r#"{
  host = "web1";
  environment = "prod";
  repository = "https://git.example.com/fleet.git";
  tokenFile = "/run/secrets/gitops-token";
  cacheUrl = "https://cache.example.com/main";
  trustedKeys = [ "KEY" ];
  allowFailedUnits = [ "systemd-networkd-wait-online.service" ];
  healthChecks = [
    { name = "web"; http = { url = "http://127.0.0.1/healthz"; bodyContains = "ok"; }; count = 3; }
    { name = "db"; command = [ "/run/current-system/sw/bin/true" ]; }
  ];
  metrics.textfileDirectory = "/var/lib/node-exporter";
  ledger.urlFile = "/run/secrets/ledger-url";
}"#;

#[test]
fn the_agent_unit_runs_forge_agent_with_a_configuration_it_accepts() {
    let good = GOOD.replace("KEY", KEY);
    let v = eval_agent(
        &good,
        r#"{
          failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
          inherit (unit) restartIfChanged stopIfChanged wantedBy;
          exec = unit.serviceConfig.ExecStart;
          credentials = unit.serviceConfig.LoadCredential;
          state = unit.serviceConfig.StateDirectory;
        }"#,
    );
    assert_eq!(v["failed"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["restartIfChanged"], false,
        "a switch must not restart the agent"
    );
    assert_eq!(v["stopIfChanged"], false);
    assert_eq!(v["wantedBy"], serde_json::json!(["multi-user.target"]));
    assert_eq!(
        v["credentials"],
        serde_json::json!([
            "git-token:/run/secrets/gitops-token",
            "ledger-url:/run/secrets/ledger-url"
        ])
    );
    assert_eq!(v["state"], "forge-agent");
    let exec = v["exec"].as_str().unwrap();
    assert!(
        exec.contains("-forge/bin/forge") && exec.contains(" agent --config "),
        "{exec}"
    );
    let file = exec.rsplit(' ').next().unwrap().trim_matches('\'');
    let text = std::fs::read_to_string(file).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        config["token_file"], "git-token",
        "read from $CREDENTIALS_DIRECTORY"
    );
    assert_eq!(
        config["checks"][0]["probe"]["http"]["body_contains"], "ok",
        "{config}"
    );
    assert_eq!(config["checks"][0]["count"], 3);
    assert_eq!(
        config["checks"][1]["probe"]["command"]["argv"][0],
        "/run/current-system/sw/bin/true"
    );
    assert_eq!(
        config["metrics_file"],
        "/var/lib/node-exporter/forge-agent.prom"
    );
    assert!(
        !text.contains("/run/secrets"),
        "no secret paths or values in the store: {text}"
    );

    // The real agent parses it (state dir and credentials pointed at a temp dir).
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("git-token"), "t0ken\n").unwrap();
    let mut local = config.clone();
    local["state_dir"] = tmp.path().join("state").display().to_string().into();
    let local_file = tmp.path().join("agent.json");
    std::fs::write(&local_file, serde_json::to_vec(&local).unwrap()).unwrap();
    let out = forge()
        .args(["--json", "agent", "--state", "--config"])
        .arg(&local_file)
        .env("CREDENTIALS_DIRECTORY", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["schema"], "forge.agent-state/v1", "{state}");
}

#[test]
fn the_agent_module_refuses_unsafe_settings() {
    let bad = r#"{
      host = "web1";
      environment = "prod";
      repository = "https://user:secret@git.example.com/fleet.git";
      tokenFile = "/nix/store/x-token";
      sshKeyFile = "/run/secrets/key";
      cacheUrl = "s3://bucket";
      trustedKeys = [ "not-a-key" ];
      healthChecks = [ { name = "both"; command = [ "true" ]; http.url = "http://x"; } ];
    }"#;
    let v = eval_agent(
        bad,
        "map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions)",
    );
    let failed: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 6, "{failed:#?}");
    for want in [
        "trustedKeys must list at least one public key",
        "tokenFile (HTTPS) or sshKeyFile (SSH), not both",
        "outside the Nix store",
        "repository holds a password or token",
        "cacheUrl must start with",
        "exactly one of command and http",
    ] {
        assert!(
            failed.iter().any(|m| m.contains(want)),
            "{want}: {failed:#?}"
        );
    }
}

/// The bad-config path of the agent itself: a configuration file error is a
/// usage error (2) naming the file, line and column.
#[test]
fn a_bad_agent_configuration_is_a_usage_error_with_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("agent.json");
    std::fs::write(&file, "{\n  \"host\": \"web1\",\n  \"hots\": 1\n}\n").unwrap();
    let out = forge()
        .args(["agent", "--once", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("{}:3:", file.display())) && e.contains("hots"),
        "{e}"
    );
}

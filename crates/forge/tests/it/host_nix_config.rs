//! Hosts in a Nix configuration (`forgeConfigurations`, options generated
//! from deploy.yaml's schema): read by `forge config validate`, and deployed
//! with `forge deploy HOST --config flake:…` from the flake's own
//! `nixosConfigurations`.

use serde_json::Value;

use crate::nix_config::copy_forge_flake;
use crate::nix_lib::nixpkgs_lib;
use crate::support::git::git;
use crate::support::{forge, stderr, system};

const FLAKE: &str = r#"{
  inputs.nixpkgs.url = "path:@NIXPKGS_LIB@";
  inputs.forge.url = "path:@FORGE@";
  inputs.forge.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { self, nixpkgs, forge }: {
    nixosConfigurations.web1.config.system.build.toplevel = derivation {
      name = "nixos-system-web1-@NONCE@";
      system = "@SYSTEM@";
      builder = "/bin/sh";
      args = [ "-c" "/bin/mkdir -p $out/bin" ];
    };
    forgeConfigurations.default = forge.lib.forgeConfiguration {
      inherit self;
      modules = [{
        cache = { url = "file://./cache"; signing_key_file = "cache.sec"; };
        gitops = { repo = "./gitops.git"; clone_dir = "./clone"; };
        environments.prod = { };
        hosts.web1 = {
          environment = "prod";
          confirm_timeout = "90s";
          verify = [{ http.url = "http://{service}.internal/healthz"; }];
        };
      }];
    };
  };
}
"#;

#[test]
fn hosts_in_a_flake_configuration_validate_and_deploy() {
    let tmp = tempfile::tempdir().unwrap();
    let forge_dir = tmp.path().join("forge");
    copy_forge_flake(&forge_dir);
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let nonce: String = tmp
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let flake = FLAKE
        .replace("@NIXPKGS_LIB@", nixpkgs_lib().to_str().unwrap())
        .replace("@FORGE@", forge_dir.to_str().unwrap())
        .replace("@NONCE@", &nonce)
        .replace("@SYSTEM@", &system());
    std::fs::write(app.join("flake.nix"), flake).unwrap();
    let (_, _public) = crate::support::nix_keypair(&app, "cache");
    git(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            app.join("gitops.git").to_str().unwrap(),
        ],
    );
    let seed = tmp.path().join("seed");
    std::fs::create_dir(&seed).unwrap();
    git(&seed, &["init", "-q"]);
    std::fs::write(seed.join("README"), "fleet\n").unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "seed"]);
    git(
        &seed,
        &[
            "push",
            "-q",
            app.join("gitops.git").to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    let config = format!("flake:path:{}#default", app.display());

    let out = forge()
        .args(["--json", "config", "validate", "--config", &config])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = &v["hosts"]["web1"];
    assert_eq!(host["environment"], "prod", "{v}");
    assert_eq!(host["confirm_timeout"], "1m30s", "{v}");
    assert_eq!(
        host["verify"][0]["probe"]["http"]["url"],
        "http://web1.internal/healthz"
    );
    assert!(
        host["installable"]
            .as_str()
            .unwrap()
            .ends_with("#nixosConfigurations.web1.config.system.build.toplevel"),
        "{v}"
    );

    let out = forge()
        .args([
            "--json", "deploy", "web1", "--env", "prod", "--config", &config,
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    let pinned = report["image"].as_str().unwrap();
    assert!(
        pinned.ends_with(&format!("-nixos-system-web1-{nonce}")),
        "{report}"
    );
    let pin = git(
        tmp.path(),
        &[
            "--git-dir",
            app.join("gitops.git").to_str().unwrap(),
            "show",
            "main:hosts/prod/web1.json",
        ],
    );
    let pin: Value = serde_json::from_str(&pin).unwrap();
    assert_eq!(pin["store_path"], pinned);
    assert_eq!(pin["confirm_timeout_seconds"], 90);
    assert!(app.join("cache").join("nix-cache-info").exists());
}

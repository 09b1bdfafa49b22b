//! `forge deploy` landing its commit over HTTPS with a token, against nginx
//! (TLS, basic auth) in front of `git http-backend`: the token is sent once as
//! the password, a refused token is a clear error that never shows the token,
//! and an untrusted certificate is refused.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::git_https::GitHttps;
use crate::support::{forge, stderr, stdout, Flake};

const TOKEN: &str = "ghp_forgeTestToken0123456789";

struct Setup {
    server: GitHttps,
    bare: std::path::PathBuf,
    dir: tempfile::TempDir,
    _flake: Flake,
}

impl Setup {
    fn new() -> Self {
        let server = GitHttps::start(TOKEN);
        let bare = server.repo("fleet");
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(seed.join("apps/app")).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(
            seed.join("apps/app/kustomization.yaml"),
            "resources: [deployment.yaml]\nimages:\n  - name: app\n    newTag: v0\n",
        )
        .unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
        );
        let flake = Flake::basic();
        std::fs::write(
            dir.path().join("deploy.yaml"),
            format!(
                "flake: path:{}\ngitops:\n  repo: {}\n  clone_dir: ./clone\n  auth:\n    token_env: FORGE_TEST_GIT_TOKEN\nenvironments:\n  dev:\n    cluster: false\n    kustomization: apps/{{service}}/kustomization.yaml\nservices:\n  app:\n    image:\n      repository: oci:./images/app\n      name: app\n",
                flake.dir.path().display(),
                server.url("fleet")
            ),
        )
        .unwrap();
        Self {
            server,
            bare,
            dir,
            _flake: flake,
        }
    }

    fn deploy(&self, token: &str, trust: bool) -> (Output, Value, Duration) {
        let mut c = forge();
        c.args(["--json", "deploy", "app", "--env", "dev", "--config"])
            .arg(self.dir.path().join("deploy.yaml"))
            .env("FORGE_TEST_GIT_TOKEN", token)
            .env("FORGE_CACHE_DIR", self.dir.path().join("layers"))
            .env_remove("SSL_CERT_DIR");
        if trust {
            c.env("SSL_CERT_FILE", self.server.ca_file());
        } else {
            c.env_remove("SSL_CERT_FILE");
        }
        let started = Instant::now();
        let out = c.output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v, started.elapsed())
    }

    fn tip_message(&self) -> String {
        git(&self.bare, &["log", "-1", "--format=%B", "main"])
    }
}

#[test]
fn a_token_over_https_lands_the_commit() {
    let s = Setup::new();
    let (out, report, _) = s.deploy(TOKEN, true);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(report["result"], "deployed", "{report}");
    let msg = s.tip_message();
    assert!(
        msg.starts_with("deploy(dev): app to ./images/app:"),
        "{msg}"
    );
    assert_eq!(
        git(&s.bare, &["rev-parse", "main"]),
        report["commit"].as_str().unwrap()
    );
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
}

#[test]
fn a_refused_token_is_a_clear_error_without_the_token() {
    let s = Setup::new();
    let before = git(&s.bare, &["rev-parse", "main"]);
    let wrong = "ghp_wrongTokenValue987654321";
    let (out, report, took) = s.deploy(wrong, true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("refused the credentials (token)"),
        "{reason}"
    );
    eprintln!("refused token: {reason} ({took:?})");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(wrong), "the token leaked: {text}");
    }
    assert_eq!(git(&s.bare, &["rev-parse", "main"]), before);
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let s = Setup::new();
    let before = git(&s.bare, &["rev-parse", "main"]);
    let (out, report, _) = s.deploy(TOKEN, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let reason = report["reason"].as_str().unwrap_or_default();
    eprintln!("untrusted certificate: {reason}");
    assert!(
        reason.contains("TLS certificate of https://127.0.0.1") && reason.contains("SSL_CERT_FILE"),
        "{reason}"
    );
    assert_eq!(git(&s.bare, &["rev-parse", "main"]), before);
}

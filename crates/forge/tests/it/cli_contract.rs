//! The everyday contract of the CLI: one exit-status table (2 for bad flags
//! and configuration everywhere), the `--json` documents (`schema`,
//! snake_case, the `forge.error/v1` error object), `forge push` with an
//! `oci:` repository and the flake's revision, registry names that do not
//! resolve, and the GitHub Actions example. Progress and GitHub Actions
//! output are in `cli_progress`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::{forge, stderr, stdout, Flake};

pub(crate) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// deploy.yaml for one service `app` (a `file://` cache unless `cache` is
/// given, an oci: layout registry, a bare GitOps repository, no cluster).
pub(crate) struct Setup {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) flake: Flake,
}

impl Setup {
    pub(crate) fn new(cache: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let flake = Flake::basic();
        let bare = tmp.path().join("gitops.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let seed = tmp.path().join("seed");
        std::fs::create_dir_all(seed.join("apps/app")).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(
            seed.join("apps/app/kustomization.yaml"),
            "kind: Kustomization\nimages:\n  - name: ./images/app\n    newTag: v0\n",
        )
        .unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
        );
        let cache = cache.map_or("file://./cache".to_owned(), str::to_owned);
        let yaml = format!(
            "flake: path:{}\ncache:\n  url: {cache}\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nenvironments:\n  dev:\n    cluster: false\n    kustomization: apps/{{service}}/kustomization.yaml\nservices:\n  app: {{}}\n",
            flake.dir.path().display()
        );
        std::fs::write(tmp.path().join("deploy.yaml"), yaml).unwrap();
        Self { tmp, flake }
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    pub(crate) fn forge(&self, args: &[&str]) -> Command {
        let mut c = forge();
        c.args(args)
            .arg("--config")
            .arg(self.path("deploy.yaml"))
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.path("layers"))
            .env_remove("GITHUB_ACTIONS")
            .env_remove("FORGE_PROGRESS");
        c
    }
}

/// `forge` outside any GitHub Actions job.
pub(crate) fn plain_forge() -> Command {
    let mut c = forge();
    c.env_remove("GITHUB_ACTIONS").env_remove("FORGE_PROGRESS");
    c
}

pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", stdout(out)))
}

#[test]
fn a_missing_or_invalid_deploy_yaml_is_status_2_with_a_json_error_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.yaml");
    let missing = missing.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["deploy", "app", "--env", "dev"],
        &["push", "app"],
        &["rollback", "app", "--env", "dev"],
        &["config", "validate"],
        &["rollout", "app", "--env", "dev"],
        &["flux-reconcile", "--env", "dev"],
    ];
    for args in commands {
        let out = plain_forge()
            .arg("--json")
            .args(args)
            .args(["--config", missing])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["schema"], "forge.error/v1", "{args:?}: {v}");
        assert_eq!(v["exit_code"], 2, "{v}");
        assert_eq!(v["result"], "usage_error", "{v}");
        assert_eq!(
            v["command"],
            args[..if args[0] == "config" { 2 } else { 1 }].join(" ")
        );
        assert!(
            v["message"].as_str().unwrap().contains("missing.yaml"),
            "{v}"
        );
        assert!(!v["causes"].as_array().unwrap().is_empty(), "{v}");
        assert!(stderr(&out).contains("error: reading"), "{}", stderr(&out));
    }

    // An invalid file: the error object says where.
    let bad = tmp.path().join("deploy.yaml");
    std::fs::write(&bad, "registry: r\nservices:\n  app: {}\nenvironmnts: {}\n").unwrap();
    let out = plain_forge()
        .args(["--json", "deploy", "app", "--env", "dev", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        (v["line"].as_u64(), v["column"].as_u64()),
        (Some(4), Some(1)),
        "{v}"
    );
    assert_eq!(v["file"], bad.to_str().unwrap(), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("environments"),
        "{v}"
    );

    // Without --json nothing is on stdout.
    let out = plain_forge()
        .args(["deploy", "app", "--env", "dev", "--config", missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
}

#[test]
fn usage_errors_are_2_and_every_help_carries_the_table() {
    // clap's own usage errors, and ours after parsing.
    let out = plain_forge()
        .args(["deploy", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = plain_forge().args(["flux-reconcile"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for args in [
        &["--help"][..],
        &["deploy", "--help"],
        &["release", "resume", "--help"],
    ] {
        let out = plain_forge().args(args).output().unwrap();
        assert!(out.status.success());
        let help = stdout(&out);
        for line in forge_core::exit_status::TABLE.lines() {
            assert!(help.contains(line), "{args:?} lacks {line:?}:\n{help}");
        }
    }
}

#[test]
fn push_takes_the_oci_repository_deploy_takes_and_the_flakes_revision() {
    let s = Setup::new(None);
    let out = s.forge(&["--json", "push", "app"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "forge.push/v1", "{v}");
    let tag = v["tag"].as_str().unwrap();
    assert!(tag.ends_with(&SHA[..7]), "{v}");
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}:{tag}", v["layout"].as_str().unwrap()),
        ])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let seen: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(seen["Digest"], v["digest"]);

    // No revision anywhere: an error naming the way out, not a silent `latest`.
    let without_sha = |c: &mut Command| {
        c.env_remove("FORGE_GIT_SHA")
            .env_remove("GITHUB_SHA")
            .env_remove("CI_COMMIT_SHA");
    };
    let mut cmd = s.forge(&["push", "app"]);
    without_sha(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("FORGE_GIT_SHA") && err.contains("not in a git checkout"),
        "{err}"
    );

    // deploy.yaml's directory and the flake are different repositories: the
    // flake's commit names the image.
    let commit = |dir: &Path| {
        git(dir, &["init", "-q"]);
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "x"]);
        git(dir, &["rev-parse", "HEAD"])
    };
    let config_sha = commit(s.tmp.path());
    let flake_sha = commit(s.flake.dir.path());
    assert_ne!(config_sha, flake_sha);
    let mut cmd = s.forge(&["--json", "push", "app"]);
    without_sha(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tag = json(&out)["tag"].as_str().unwrap().to_owned();
    assert!(tag.ends_with(&flake_sha[..7]), "{tag} vs flake {flake_sha}");
}

#[test]
fn every_documented_code_is_a_known_status_and_in_each_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args(["man", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // forge-provision's --help is checked in its own suite.
    for line in forge_core::exit_status::TABLE.lines().skip(1) {
        let code: u8 = line.trim().split(' ').next().unwrap().parse().unwrap();
        assert!(
            forge_core::exit_status::ExitStatus::from_code(code).is_some(),
            "{line}"
        );
        assert!(stdout(&out).contains(line), "{line}");
    }
}

#[test]
fn a_registry_name_that_does_not_resolve_is_not_retried() {
    let s = Setup::new(None);
    let out = s.forge(&["--json", "push", "app"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let source = format!(
        "oci:{}:{}",
        v["layout"].as_str().unwrap(),
        v["tag"].as_str().unwrap()
    );
    let started = Instant::now();
    let out = plain_forge()
        .args([
            "image",
            "push",
            &source,
            "--repo",
            "registry.nonexistent.invalid/app",
        ])
        .args(["--attempts", "6", "--tag", "t"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Six attempts with backoff took about 10 s; one takes milliseconds.
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("registry.nonexistent.invalid"),
        "{}",
        stderr(&out)
    );
}

/// The example workflow is one a team can copy: Forge pinned to a commit,
/// the deploy step with an `id` whose outputs (only ones Forge writes) a
/// later step reads, a concurrency group per environment; and actionlint
/// accepts it when it is installed (`go install github.com/rhysd/actionlint/cmd/actionlint`).
#[test]
fn the_github_actions_example_is_pinned_and_uses_the_outputs_forge_writes() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/github-actions/deploy.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let forge_ref = doc["env"]["FORGE"].as_str().unwrap();
    let rev = forge_ref
        .split('#')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert!(
        rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
        "{forge_ref}"
    );
    assert!(doc["concurrency"]["group"]
        .as_str()
        .unwrap()
        .contains("environment"));
    let steps = doc["jobs"]["deploy"]["steps"].as_sequence().unwrap();
    let deploy = steps
        .iter()
        .find(|s| s["id"] == "deploy")
        .expect("a step with id: deploy");
    assert!(deploy["run"].as_str().unwrap().contains("\"$FORGE\""));
    // Every output read is one Forge writes for a deploy.
    let written = [
        "image",
        "tag",
        "digest",
        "commit",
        "result",
        "exit_code",
        "service",
        "env",
    ];
    let mut read = 0;
    for (i, _) in text.match_indices("steps.deploy.outputs.") {
        let name: String = text[i + "steps.deploy.outputs.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            written.contains(&name.as_str()),
            "{name} is not an output of forge deploy"
        );
        read += 1;
    }
    assert!(read >= 4, "{read}");
    let actionlint = std::env::var_os("FORGE_ACTIONLINT")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("actionlint"))
                    .find(|f| f.is_file())
            })
        });
    if let Some(bin) = actionlint {
        let out = Command::new(bin)
            .args(["-shellcheck=", "-pyflakes="])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
}

/// Every key Forge chose is snake_case: everything but maps keyed by the
/// user's or another format's names (`outputs`, OCI `manifest`, labels, env).
fn assert_snake_case(v: &Value, at: &str) {
    const FOREIGN: [&str; 6] = [
        "outputs",
        "manifest",
        "labels",
        "env",
        "installables",
        "annotations",
    ];
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let ok = k
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                assert!(ok, "{at}.{k} is not snake_case");
                if !FOREIGN.contains(&k.as_str()) {
                    assert_snake_case(child, &format!("{at}.{k}"));
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| assert_snake_case(i, &format!("{at}[]"))),
        _ => {}
    }
}

#[test]
fn every_json_document_has_a_schema_and_snake_case_keys() {
    let s = Setup::new(None);
    let app = s.flake.build("app");
    let cache = format!("file://{}/c2", s.tmp.path().display());
    let health =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout/deployment.yaml");
    let runs: Vec<(&str, Command)> = vec![
        ("forge.build/v1", {
            let mut c = plain_forge();
            c.args(["--json", "build", &s.flake.installable("app")]);
            c
        }),
        ("forge.cache-push/v1", {
            let mut c = plain_forge();
            c.args(["--json", "cache", "push", "--dry-run", "--to", &cache, &app]);
            c
        }),
        (
            "forge.config/v1",
            s.forge(&["--json", "config", "validate"]),
        ),
        (
            "forge.deploy/v1",
            s.forge(&["--json", "deploy", "app", "--env", "dev", "--dry-run"]),
        ),
        ("forge.push/v1", s.forge(&["--json", "push", "app"])),
        ("forge.health/v1", {
            let mut c = plain_forge();
            c.args(["--json", "health", "--file"]).arg(&health);
            c
        }),
        (
            "forge.error/v1",
            s.forge(&["--json", "deploy", "nope", "--env", "dev"]),
        ),
        ("forge.image-build/v1", {
            let mut c = plain_forge();
            c.args(["--json", "image", "build", &app, "--out"])
                .arg(format!("oci:{}:t", s.path("built").display()))
                .env("FORGE_CACHE_DIR", s.path("layers"));
            c
        }),
        ("forge.kustomize-set-image/v1", {
            std::fs::write(s.path("k.yaml"), "images:\n- name: app\n  newTag: v1\n").unwrap();
            let mut c = plain_forge();
            c.args(["--json", "kustomize", "set-image"])
                .arg(s.path("k.yaml"))
                .args(["app", "--tag", "v2", "--dry-run"]);
            c
        }),
        ("forge.cache-keygen/v1", {
            let mut c = plain_forge();
            c.args(["--json", "cache", "keygen", "--name", "test-1", "--out"])
                .arg(s.path("key.sec"));
            c
        }),
    ];
    for (schema, mut cmd) in runs {
        let out = cmd.output().unwrap();
        let v = json(&out);
        assert_eq!(v["schema"], schema, "{cmd:?}: {v}");
        assert_snake_case(&v, schema);
    }
}

#[test]
fn errors_at_a_place_in_a_named_file_carry_it_into_json_and_annotations() {
    let tmp = tempfile::tempdir().unwrap();
    let k = tmp.path().join("kustomization.yaml");
    std::fs::write(&k, "kind: Kustomization\n# caf\u{e9}\nimages: [\n").unwrap();
    let out = plain_forge()
        .args(["--json", "kustomize", "set-image"])
        .arg(&k)
        .args(["app", "--tag", "v2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["file"], k.to_str().unwrap(), "{v}");
    assert!(
        v["line"].as_u64().is_some() && v["column"].as_u64().is_some(),
        "{v}"
    );
    assert!(
        stderr(&out).contains(&format!("{}:{}:{}:", k.display(), v["line"], v["column"])),
        "{}",
        stderr(&out)
    );

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let out = forge()
        .args(["health", "--file"])
        .arg(&bad)
        .env("GITHUB_ACTIONS", "true")
        .env_remove("FORGE_PROGRESS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("::error file={},line=", bad.display())),
        "{err}"
    );
}

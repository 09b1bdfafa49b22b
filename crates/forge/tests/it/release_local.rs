//! `forge orchestrate-release` and `forge release …` without a cluster: a
//! real Nix build, a `file://` cache, `oci:` layouts as the registry, a real
//! bare git repository as the GitOps remote, and an SQLite ledger. Runs are
//! killed at every step boundary (FORGE_CRASH_AT, honoured by debug builds)
//! and resumed: the end state equals an uninterrupted run, with exactly one
//! GitOps commit per pin.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::git::git;
use crate::support::{forge, stderr, Flake};

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";
const OLD_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// deploy.yaml with `app` and `lib` (`lib` after `app`), a seeded bare
/// GitOps repo, and a ledger path.
pub(crate) struct Fleet {
    tmp: tempfile::TempDir,
    _flake: Flake,
}

impl Fleet {
    pub(crate) fn new() -> Self {
        Self::with_services("  app: {}\n  lib:\n    depends_on: [app]\n")
    }

    /// The fleet with `services` as deploy.yaml's `services:` block.
    pub(crate) fn with_services(services: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let flake = Flake::basic();
        let bare = tmp.path().join("gitops.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let seed = tmp.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q"]);
        for s in ["app", "lib"] {
            let dir = seed.join("apps").join(s);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("kustomization.yaml"),
                format!("resources: [deployment.yaml]\nimages:\n  - name: ./images/{s}\n    newTag: v0\n    digest: {OLD_DIGEST}\n"),
            )
            .unwrap();
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
        );
        let yaml = format!(
            "flake: path:{}\ncache:\n  url: file://./cache\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nledger:\n  path: ./ledger.db\nenvironments:\n  dev:\n    cluster: false\n    kustomization: apps/{{service}}/kustomization.yaml\nservices:\n{services}",
            flake.dir.path().display()
        );
        std::fs::write(tmp.path().join("deploy.yaml"), yaml).unwrap();
        Self { tmp, _flake: flake }
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    pub(crate) fn forge_cmd(&self, args: &[&str]) -> Command {
        let mut c = forge();
        c.arg("--json")
            .args(args)
            .arg("--config")
            .arg(self.path("deploy.yaml"))
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.path("layers"))
            .env_remove("FORGE_LEDGER");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> (Output, Value) {
        let out = self.forge_cmd(args).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    fn release(&self, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["orchestrate-release", "app", "lib", "--env", "dev"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Commit messages on the GitOps branch, newest first.
    pub(crate) fn messages(&self) -> Vec<String> {
        let log = git(
            self.tmp.path(),
            &["--git-dir", "gitops.git", "log", "--format=%B%x00", "main"],
        );
        log.split('\0')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }

    pub(crate) fn pins_of(&self, service: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.contains(&format!("Forge-Service: {service}")))
            .count()
    }

    fn file(&self, service: &str) -> String {
        git(
            self.tmp.path(),
            &[
                "--git-dir",
                "gitops.git",
                "show",
                &format!("main:apps/{service}/kustomization.yaml"),
            ],
        )
    }

    pub(crate) fn newest_run(&self) -> Value {
        let (out, v) = self.run(&["release", "list"]);
        assert!(out.status.success(), "{}", stderr(&out));
        v.as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::Null)
    }
}

pub(crate) fn states(v: &Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const STEPS: [&str; 8] = [
    "app/dev/build",
    "app/dev/cache",
    "app/dev/image",
    "lib/dev/build",
    "lib/dev/cache",
    "lib/dev/image",
    "app/dev/pin",
    "lib/dev/pin",
];

#[test]
fn a_release_runs_every_step_records_it_and_pins_each_service_once() {
    let fleet = Fleet::new();
    let (out, plan) = fleet.release(&["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(plan["schema"], "forge.release-plan/v1");
    assert!(fleet.messages().len() == 1, "a dry run commits nothing");
    assert!(
        !fleet.path("ledger.db").exists(),
        "a dry run records nothing"
    );

    let (out, v) = fleet.release(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["state"], "succeeded", "{v}");
    let release = v["release"].as_str().unwrap().to_owned();
    assert!(release.starts_with("rel-"), "{v}");
    let done: Vec<(String, String)> = STEPS
        .iter()
        .map(|k| (k.to_string(), "succeeded".to_owned()))
        .collect();
    let mut got = states(&v);
    got.sort();
    let mut want = done.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!((fleet.pins_of("app"), fleet.pins_of("lib")), (1, 1));
    let newest = fleet.messages()[0].clone();
    assert!(
        newest.contains("Forge-Service: lib"),
        "lib lands after app: {newest}"
    );
    assert!(
        newest.contains(&format!("Forge-Release: {release}")),
        "{newest}"
    );
    let run = v["run"].as_str().unwrap().to_owned();
    assert!(
        newest.contains(&format!("Forge-Step: {run}/lib/dev/pin")),
        "{newest}"
    );
    assert!(fleet.file("app").contains("digest: sha256:"));

    let listed = fleet.newest_run();
    assert_eq!(listed["id"], run);
    assert_eq!(listed["state"], "succeeded");
    assert_eq!(listed["environment"], "dev");
    let (out, shown) = fleet.run(&["release", "show", &run]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(shown["steps"].as_array().unwrap().len(), 8);

    // The same revision again: the same release, nothing new to pin.
    let (out, again) = fleet.release(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(again["release"], release);
    assert_eq!((fleet.pins_of("app"), fleet.pins_of("lib")), (1, 1));
}

/// Kill the run at each boundary of each step, resume it, compare with an
/// uninterrupted run: every step succeeded, one commit per pin, the same
/// files at the tip.
#[test]
fn a_run_killed_at_any_step_boundary_resumes_without_doing_anything_twice() {
    let reference = Fleet::new();
    let (out, _) = reference.release(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (want_app, want_lib) = (reference.file("app"), reference.file("lib"));

    for key in STEPS {
        for at in ["before", "after"] {
            let fleet = Fleet::new();
            let out = fleet
                .forge_cmd(&[
                    "orchestrate-release",
                    "app",
                    "lib",
                    "--env",
                    "dev",
                    "--lease-ttl",
                    "1s",
                ])
                .env("FORGE_CRASH_AT", format!("{key}:{at}"))
                .output()
                .unwrap();
            assert!(!out.status.success(), "{key}:{at} should abort");
            assert!(
                stderr(&out).contains("FORGE_CRASH_AT"),
                "{key}:{at}: {}",
                stderr(&out)
            );
            let run = fleet.newest_run()["id"].as_str().unwrap().to_owned();
            std::thread::sleep(std::time::Duration::from_millis(1200));
            let (out, v) = fleet.run(&["release", "resume", &run]);
            assert!(out.status.success(), "{key}:{at}: {}", stderr(&out));
            assert_eq!(v["state"], "succeeded", "{key}:{at}: {v}");
            assert!(
                states(&v).iter().all(|(_, s)| s == "succeeded"),
                "{key}:{at}: {v}"
            );
            assert_eq!(
                (fleet.pins_of("app"), fleet.pins_of("lib")),
                (1, 1),
                "{key}:{at}: {:?}",
                fleet.messages()
            );
            assert_eq!(
                (fleet.file("app"), fleet.file("lib")),
                (want_app.clone(), want_lib.clone()),
                "{key}:{at}"
            );
            // Each pin step names the commit that carries its trailer, also
            // when that commit landed before the crash (found, not redone).
            for service in ["app", "lib"] {
                let step = format!("{service}/dev/pin");
                let recorded = v["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["key"] == step.as_str())
                    .and_then(|s| s["outputs"]["commit"].as_str())
                    .map(str::to_owned);
                let trailer = format!("Forge-Step: {run}/{step}");
                let with_trailer = git(
                    fleet.tmp.path(),
                    &[
                        "--git-dir",
                        "gitops.git",
                        "log",
                        "--format=%H",
                        "--fixed-strings",
                        &format!("--grep={trailer}"),
                        "main",
                    ],
                );
                assert_eq!(
                    recorded.as_deref(),
                    Some(with_trailer.as_str()),
                    "{key}:{at}: {step}"
                );
            }
        }
    }
}

#[test]
fn a_second_run_on_the_same_service_and_environment_is_refused_with_the_holder_named() {
    let fleet = Fleet::new();
    let out = fleet
        .forge_cmd(&[
            "orchestrate-release",
            "app",
            "lib",
            "--env",
            "dev",
            "--lease-ttl",
            "60s",
        ])
        .env("FORGE_CRASH_AT", "app/dev/image:after")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let holder = fleet.newest_run()["id"].as_str().unwrap().to_owned();
    let (out, _) = fleet.release(&[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&holder), "names the run holding it: {err}");
    assert!(err.contains("app/dev"), "{err}");
}

#[test]
fn bad_input_is_refused_before_anything_happens() {
    let fleet = Fleet::new();
    let yaml = std::fs::read_to_string(fleet.path("deploy.yaml")).unwrap();
    std::fs::write(
        fleet.path("deploy.yaml"),
        yaml.replace("  app: {}\n", "  app:\n    depends_on: [lib]\n"),
    )
    .unwrap();
    let (out, _) = fleet.release(&[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("cycle: app -> lib -> app") || err.contains("cycle: lib -> app -> lib"),
        "{err}"
    );
    assert!(
        !fleet.path("ledger.db").exists() || fleet.newest_run().is_null(),
        "{err}"
    );
    assert_eq!(fleet.messages().len(), 1);

    // A dependency outside the release is where it is: `lib` alone is planned
    // without waiting for `app`.
    let fleet = Fleet::new();
    let (out, plan) = fleet.run(&["release", "plan", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let steps = plan["plan"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s["key"].as_str().unwrap().starts_with("lib/")),
        "{plan}"
    );
    let pin = steps.iter().find(|s| s["key"] == "lib/dev/pin").unwrap();
    assert_eq!(pin["after"], serde_json::json!(["lib/dev/image"]), "{plan}");

    let fleet = Fleet::new();
    let (out, _) = fleet.run(&["orchestrate-release", "nope", "--env", "dev"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));

    std::fs::write(fleet.path("ledger.db"), b"not a ledger at all").unwrap();
    let (out, _) = fleet.release(&[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("ledger"), "{err}");
    assert_eq!(fleet.messages().len(), 1, "nothing pinned");
}

#[test]
fn a_cancelled_run_cannot_be_resumed_and_the_audit_log_tells_its_story() {
    let fleet = Fleet::new();
    let out = fleet
        .forge_cmd(&[
            "orchestrate-release",
            "app",
            "lib",
            "--env",
            "dev",
            "--lease-ttl",
            "60s",
        ])
        .env("FORGE_CRASH_AT", "app/dev/pin:before")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let run = fleet.newest_run()["id"].as_str().unwrap().to_owned();

    // Its own run's lease may be taken at once: cancelling fences the runner.
    let (out, v) = fleet.run(&["release", "cancel", &run]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["state"], "cancelled");
    assert_eq!(fleet.newest_run()["state"], "cancelled");
    let (out, _) = fleet.run(&["release", "resume", &run]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is cancelled"), "{}", stderr(&out));
    assert_eq!((fleet.pins_of("app"), fleet.pins_of("lib")), (0, 0));

    // The service × environment is free again for a new run.
    let (out, v) = fleet.release(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["state"], "succeeded");

    let (out, v) = fleet.run(&["release", "audit", "--verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["intact"], true);
    let out = fleet.forge_cmd(&["release", "audit"]).output().unwrap();
    let actions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["subject"].as_str().is_some_and(|s| s.starts_with(&run)))
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("run.started"),
        "{actions:?}"
    );
    assert!(actions.contains(&"step.running".to_owned()), "{actions:?}");
    assert_eq!(
        actions.last().map(String::as_str),
        Some("run.cancelled"),
        "{actions:?}"
    );
}

/// Checks run after the pins: a passing HTTP check and a command that sees
/// the FORGE_* variables; a failing check fails the run and, under
/// `rollback: auto`, pins the previous image again.
#[test]
fn verification_checks_pass_or_fail_the_run_and_a_failure_rolls_back() {
    use forge_testkit::fault_servers::EchoServer;
    let healthy = EchoServer::start(200);
    let broken = EchoServer::start(503);
    let services = format!(
        "  app:\n    verify:\n      - http: {{url: \"http://127.0.0.1:{}/{{service}}/{{env}}\", body_contains: \"GET /app/dev\"}}\n        count: 2\n        interval: 1s\n      - name: sees-its-variables\n        command: [sh, -c, 'test \"$FORGE_SERVICE/$FORGE_ENV\" = app/dev && test -n \"$FORGE_RELEASE\"']\n  lib:\n    depends_on: [app]\n    rollback: auto\n    verify:\n      - name: health\n        http: {{url: \"http://127.0.0.1:{}/health\"}}\n        failure_limit: 1\n        interval: 1s\n",
        healthy.port(),
        broken.port()
    );
    let fleet = Fleet::with_services(&services);
    let (out, v) = fleet.release(&[]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(v["state"], "failed", "{v}");
    let (key, error) = (
        v["failed"][0].as_str().unwrap(),
        v["failed"][1].as_str().unwrap(),
    );
    assert_eq!(key, "lib/dev/verify");
    assert!(
        error.contains("check health failed") && error.contains("HTTP 503, expected 200"),
        "{error}"
    );
    assert!(error.contains("rolled back to"), "{error}");
    let steps = v["steps"].as_array().unwrap();
    let app_verify = steps.iter().find(|s| s["key"] == "app/dev/verify").unwrap();
    assert_eq!(app_verify["state"], "succeeded", "{app_verify}");
    let checks = app_verify["outputs"]["checks"].as_array().unwrap();
    assert_eq!(
        checks[0]["attempts"].as_array().unwrap().len(),
        2,
        "count: 2"
    );
    assert_eq!(checks[1]["name"], "sees-its-variables");
    let lib_verify = steps.iter().find(|s| s["key"] == "lib/dev/verify").unwrap();
    assert_eq!(lib_verify["state"], "failed");
    // lib was pinned, then pinned back (`failure_limit: 1`: two failed attempts).
    let newest = fleet.messages()[0].clone();
    assert!(newest.contains("Forge-Rollback-Of:"), "{newest}");
    assert!(
        fleet.file("lib").contains(OLD_DIGEST),
        "{}",
        fleet.file("lib")
    );
    assert!(
        fleet.file("app").contains("digest: sha256:"),
        "app stays released"
    );
}

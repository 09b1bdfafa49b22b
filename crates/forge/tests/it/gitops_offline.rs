//! `forge kustomize set-image` and `forge health` as a user runs them: files,
//! exit statuses and output (the rules themselves are in tests/cases).

use std::path::Path;

use crate::support::{forge, run_ok, stderr, stdout};

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn set_image_dry_run_writes_nothing_and_a_real_run_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kustomization.yaml");
    std::fs::copy(
        fixture("kustomize/comments-everywhere/kustomization.yaml"),
        &file,
    )
    .unwrap();
    let before = std::fs::read(&file).unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let args = [
        "kustomize",
        "set-image",
        file.to_str().unwrap(),
        "brand-new",
        "--new-name",
        "127.0.0.1:5000/x",
        "--tag",
        "v2",
        "--digest",
        &digest,
    ];

    let dry = run_ok(forge().args(args).arg("--dry-run"));
    assert!(
        stdout(&dry).contains(&format!("+  digest: {digest}")) || stdout(&dry).contains(&digest),
        "{}",
        stdout(&dry)
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "--dry-run changed the file"
    );

    run_ok(forge().args(args));
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.contains(&digest));
    let again = run_ok(forge().args(["--json"]).args(args));
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["changed"], false, "{v}");

    let out = forge()
        .args([
            "kustomize",
            "set-image",
            file.to_str().unwrap(),
            "x",
            "--digest",
            "sha256:nothex",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("digest"), "{}", stderr(&out));
}

#[test]
fn health_exit_status_follows_the_worst_verdict() {
    let status = |file: &str| {
        forge()
            .args(["health", "--file"])
            .arg(fixture(file))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(status("rollout/pod-failures.yaml"), Some(1));
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let out = forge()
        .args(["health", "--file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.yaml"), "{}", stderr(&out));
    let json = run_ok_or_status(
        forge()
            .args(["--json", "health", "--file"])
            .arg(fixture("rollout/deployment.yaml")),
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["schema"], "forge.health/v1", "{v}");
    assert!(
        v["objects"].as_array().is_some_and(|a| !a.is_empty()),
        "{v}"
    );
    assert_eq!(v["objects"][0]["api_version"], "apps/v1", "{v}");
}

/// `health` exits non-zero on purpose; only a crash (no status) is a test failure here.
fn run_ok_or_status(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(out.status.code().is_some());
    out
}

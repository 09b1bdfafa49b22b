//! Bad input gets one clear error and a non-zero exit.

use crate::support::{forge, free_port, stderr, Flake};

/// Exit status 1: the operation failed.
fn fails(args: &[&str]) -> String {
    fails_with(1, args)
}

/// `code` from the exit-status table (2: bad flags or input).
fn fails_with(code: i32, args: &[&str]) -> String {
    let out = forge().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    stderr(&out)
}

#[test]
fn unknown_installable_names_the_attribute() {
    let flake = Flake::basic();
    let err = fails(&["build", &flake.installable("no-such-attr")]);
    assert!(
        err.contains("error:") && err.contains("no-such-attr"),
        "{err}"
    );
}

#[test]
fn evaluation_and_build_failures_show_nix_log_lines() {
    let flake = Flake::basic();
    let err = fails(&["build", &flake.installable("evalerror")]);
    assert!(err.contains("deliberate evaluation error"), "{err}");
    let err = fails(&[
        "cache",
        "push",
        "--to",
        "file:///tmp/forge-never",
        &flake.installable("broken"),
    ]);
    assert!(err.contains("the builder explains why"), "{err}");
}

#[test]
fn unreachable_cache_is_named() {
    let app = Flake::basic().build("app");
    let url = format!("http://127.0.0.1:{}/c", free_port());
    let err = fails(&["cache", "push", "--attempts", "2", "--to", &url, &app]);
    assert!(err.contains(&url), "{err}");
}

#[test]
fn malformed_or_missing_signing_key_names_the_file_and_hides_its_content() {
    let app = Flake::basic().build("app");
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("bad.sec");
    std::fs::write(&key, "cache-1:c2VjcmV0LWJ1dC10b28tc2hvcnQ=").unwrap();
    let cache = format!("file://{}/c", tmp.path().display());
    let err = fails_with(
        2,
        &[
            "cache",
            "push",
            "--to",
            &cache,
            "--signing-key",
            key.to_str().unwrap(),
            &app,
        ],
    );
    assert!(err.contains("bad.sec") && err.contains("64 bytes"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
    let err = fails_with(
        2,
        &[
            "cache",
            "push",
            "--to",
            &cache,
            "--signing-key",
            "/nonexistent/k.sec",
            &app,
        ],
    );
    assert!(err.contains("/nonexistent/k.sec"), "{err}");
}

#[test]
fn invalid_store_path_and_bad_cache_url() {
    let err = fails(&[
        "cache",
        "push",
        "--to",
        "file:///tmp/x",
        "/nix/store/00000000000000000000000000000000-nope",
    ]);
    // From the store database, or from `nix path-info` when the database
    // cannot be opened at that moment (a first `nix` run is creating it).
    assert!(
        err.contains("not a valid path") || err.contains("is not valid"),
        "{err}"
    );
    let err = fails_with(
        2,
        &[
            "cache",
            "push",
            "--to",
            "s3://bucket",
            "/nix/store/00000000000000000000000000000000-nope",
        ],
    );
    assert!(err.contains("s3://bucket"), "{err}");
}

const KUSTOMIZATION: &str = "kind: Kustomization\nimages:\n- name: app\n  newTag: v1\n";

fn set_image(file: &std::path::Path) -> std::process::Command {
    let mut cmd = forge();
    cmd.args(["kustomize", "set-image"])
        .arg(file)
        .args(["app", "--tag", "v2"]);
    cmd
}

#[test]
fn pathological_kustomizations_are_refused_before_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("k.yaml");
    // 200 KB of nested `[` took 78 s of CPU in the parser.
    std::fs::write(
        &file,
        format!("{KUSTOMIZATION}patches: {}\n", "[".repeat(200_000)),
    )
    .unwrap();
    let out = set_image(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("k.yaml:5:73: nested more than 64 levels deep"),
        "{err}"
    );
    std::fs::write(
        &file,
        format!("{KUSTOMIZATION}{}", "# padding\n".repeat(200_000)),
    )
    .unwrap();
    let err = stderr(&set_image(&file).output().unwrap());
    assert!(err.contains("k.yaml: larger than 1.00 MiB"), "{err}");
}

#[test]
fn kustomizations_not_in_utf8_are_located_and_a_byte_order_mark_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("k.yaml");
    std::fs::write(&file, b"kind: Kustomization\n# caf\xe9\nimages: []\n").unwrap();
    let out = set_image(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("k.yaml:2:6: not UTF-8 (byte 0xe9)"), "{err}");

    std::fs::write(&file, format!("\u{feff}{KUSTOMIZATION}")).unwrap();
    let out = set_image(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("\u{feff}{}", KUSTOMIZATION.replace("v1", "v2"))
    );
}

#[test]
fn deploy_yaml_that_is_too_deep_or_not_utf8_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("deploy.yaml");
    let validate = || {
        let mut cmd = forge();
        cmd.args(["config", "validate", "--config"]).arg(&config);
        cmd.output().unwrap()
    };
    std::fs::write(
        &config,
        format!("registry: r\nservices: {}\n", "[".repeat(200_000)),
    )
    .unwrap();
    let out = validate();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("deploy.yaml:2:74: nested more than 64 levels deep"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, b"registry: r\nservices:\n  caf\xe9: {}\n").unwrap();
    let out = validate();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("deploy.yaml:3:6: not UTF-8 (byte 0xe9)"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &config,
        "\u{feff}registry: r\nservices:\n  app: {}\nenvironments:\n  prod: {}\n",
    )
    .unwrap();
    let out = validate();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn completions_for_every_shell_and_man_pages_for_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = crate::support::run_ok(forge().args(["completions", shell]));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("orchestrate-release"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    crate::support::run_ok(forge().args(["man", "--out"]).arg(dir.path()));
    for page in [
        "forge.1",
        "forge-deploy.1",
        "forge-release-resume.1",
        "forge-cache-push.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}");
    }
    let deploy = std::fs::read_to_string(dir.path().join("forge-deploy.1")).unwrap();
    assert!(deploy.contains("idle\\-timeout"), "flags are documented");
}

//! Bad input gets one clear error and a non-zero exit.

use crate::support::{forge, free_port, stderr, Flake};

fn fails(args: &[&str]) -> String {
    let out = forge().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(out.status.code(), Some(1));
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
    let err = fails(&[
        "cache",
        "push",
        "--to",
        &cache,
        "--signing-key",
        key.to_str().unwrap(),
        &app,
    ]);
    assert!(err.contains("bad.sec") && err.contains("64 bytes"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
    let err = fails(&[
        "cache",
        "push",
        "--to",
        &cache,
        "--signing-key",
        "/nonexistent/k.sec",
        &app,
    ]);
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
    let err = fails(&[
        "cache",
        "push",
        "--to",
        "s3://bucket",
        "/nix/store/00000000000000000000000000000000-nope",
    ]);
    assert!(err.contains("s3://bucket"), "{err}");
}

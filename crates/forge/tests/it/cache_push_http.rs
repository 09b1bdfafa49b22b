//! `forge cache push --to http://` against nginx with WebDAV.

use crate::support::nginx::Nginx;
use crate::support::{forge, nix_keypair, run_ok, stderr, substitute, Flake};

#[test]
fn nix_substitutes_from_our_http_cache_small_and_large_paths() {
    let nginx = Nginx::start();
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = nix_keypair(tmp.path(), "forge-http-1");
    let cache = nginx.url("cache");
    let app = flake.build("app");
    let big = flake.build("big");
    let out = run_ok(forge().args([
        "--json",
        "cache",
        "push",
        "--to",
        &cache,
        "--signing-key",
        sec.to_str().unwrap(),
        &app,
        &big,
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["uploaded"].as_array().unwrap().len(), 3, "{report}");
    assert!(nginx.root().join("cache/nix-cache-info").exists());

    for path in [&app, &big] {
        let (out, _) = substitute(&cache, &public, path, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (_, other) = nix_keypair(tmp.path(), "forge-http-2");
    let (out, _) = substitute(&cache, &other, &app, &[]);
    assert!(!out.status.success(), "substituted with an untrusted key");

    let again = run_ok(forge().args(["--json", "cache", "push", "--to", &cache, &app, &big]));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0);
    assert_eq!(again["already_present"], 3);
}

#[test]
fn basic_auth_works_and_a_wrong_password_is_a_clear_error_without_the_password() {
    let nginx = Nginx::start();
    let flake = Flake::basic();
    let app = flake.build("app");
    let good = format!("http://pusher:s3cret@127.0.0.1:{}/auth/c", nginx.port);
    run_ok(forge().args(["cache", "push", "--to", &good, &app]));

    let bad = format!("http://pusher:hunter2@127.0.0.1:{}/auth/d", nginx.port);
    let out = forge()
        .args(["cache", "push", "--to", &bad, &app])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("authentication failed (HTTP 401)"), "{err}");
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

#[test]
fn presence_checks_see_exactly_which_narinfos_are_missing() {
    let nginx = Nginx::start();
    let flake = Flake::basic();
    let cache = nginx.url("mixed");
    let wide = flake.build("wide");
    run_ok(forge().args(["cache", "push", "--to", &cache, &wide]));
    // Remove three narinfos; the pipelined HEADs must find exactly those.
    let dir = nginx.root().join("mixed");
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if removed < 3 && path.extension().is_some_and(|e| e == "narinfo") {
            std::fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    let out = run_ok(forge().args(["--json", "cache", "push", "--to", &cache, &wide]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["uploaded"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["already_present"], 118);
}

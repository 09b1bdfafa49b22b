//! `forge cache push --to file://`: real Nix substitutes from what we wrote.

use crate::support::{forge, nix_keypair, run_ok, stderr, substitute, Flake};

fn push_json(args: &[&str]) -> serde_json::Value {
    let out = run_ok(forge().args(["--json", "cache", "push"]).args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn nix_substitutes_our_signed_closure_and_refuses_a_wrong_key() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = nix_keypair(tmp.path(), "forge-test-1");
    let (_, other_public) = nix_keypair(tmp.path(), "forge-test-1-other");
    let cache = format!("file://{}/cache", tmp.path().display());
    let app = flake.build("app");

    let report = push_json(&[
        "--to",
        &cache,
        "--signing-key",
        sec.to_str().unwrap(),
        &flake.installable("app"),
    ]);
    assert_eq!(report["uploaded"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["failed"].as_array().unwrap().len(), 0);

    let (out, store) = substitute(&cache, &public, &app, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let copied = store
        .path()
        .join(app.trim_start_matches('/'))
        .join("bin/app");
    assert!(
        copied.exists(),
        "{} missing after substitution",
        copied.display()
    );

    // Same key name, different key: Nix must refuse.
    let wrong = other_public.replace("forge-test-1-other", "forge-test-1");
    let (out, _) = substitute(&cache, &wrong, &app, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lacks a valid signature"),
        "{}",
        stderr(&out)
    );

    // Nothing half-written remains, and every narinfo names an existing NAR.
    let dir = tmp.path().join("cache");
    for entry in std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("nar")).unwrap())
    {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with(".forge-tmp"), "leftover {name}");
        if name.ends_with(".narinfo") {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            let url = text.lines().find_map(|l| l.strip_prefix("URL: ")).unwrap();
            assert!(dir.join(url).exists(), "{name} points at missing {url}");
        }
    }
}

#[test]
fn second_push_uploads_nothing_and_dry_run_writes_nothing() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let cache = format!("file://{}/cache", tmp.path().display());
    let app = flake.build("app");

    let dry = push_json(&["--to", &cache, "--dry-run", &app]);
    assert_eq!(dry["uploaded"].as_array().unwrap().len(), 2);
    assert!(
        !tmp.path().join("cache").exists(),
        "dry run created the cache"
    );

    push_json(&["--to", &cache, &app]);
    let again = push_json(&["--to", &cache, &app]);
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0);
    assert_eq!(again["already_present"], 2);
}

#[test]
fn large_paths_stream_and_substitute() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = nix_keypair(tmp.path(), "forge-test-1");
    let cache = format!("file://{}/cache", tmp.path().display());
    let big = flake.build("big");
    push_json(&["--to", &cache, "--signing-key", sec.to_str().unwrap(), &big]);
    let (out, _) = substitute(&cache, &public, &big, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn closure_from_nix_path_info_equals_closure_from_the_database() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let app = flake.build("wide");
    let a = push_json(&[
        "--to",
        &format!("file://{}/a", tmp.path().display()),
        "--dry-run",
        "--closure-source",
        "db",
        &app,
    ]);
    let b = push_json(&[
        "--to",
        &format!("file://{}/b", tmp.path().display()),
        "--dry-run",
        "--closure-source",
        "nix",
        &app,
    ]);
    assert_eq!(a["uploaded"], b["uploaded"]);
    assert_eq!(a["uploaded"].as_array().unwrap().len(), 121);
}

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
    assert_eq!(dry["schema"], "forge.cache-push/v1", "{dry}");
    assert_eq!(dry["would_upload"].as_array().unwrap().len(), 2, "{dry}");
    assert!(
        dry.get("uploaded").is_none() && dry["nar_bytes_would_upload"].as_u64() > Some(0),
        "{dry}"
    );
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
    assert_eq!(a["would_upload"], b["would_upload"]);
    assert_eq!(a["would_upload"].as_array().unwrap().len(), 121);
}

/// The umask as a shell started from the tests reports it.
fn umask() -> u32 {
    let out = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()
        .unwrap();
    u32::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 8).unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A web server running as another user must be able to serve what Forge
/// wrote (`nix copy` writes 0644 under the usual umask); and temporary files
/// a killed push left behind are cleared by the next one.
#[test]
fn cache_files_follow_the_umask_and_stale_temp_files_are_removed() {
    let flake = Flake::basic();
    let app = flake.build("app");
    let big = flake.build("big");
    let cache = tempfile::tempdir().unwrap();
    let nar_dir = cache.path().join("nar");
    std::fs::create_dir_all(&nar_dir).unwrap();
    let stale = nar_dir.join(".forge-tmp-killed");
    let fresh = nar_dir.join(".forge-tmp-running");
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    std::fs::write(&fresh, b"").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();

    let url = format!("file://{}", cache.path().display());
    push_json(&["--to", &url, &app, &big]);
    assert!(!stale.exists(), "a leftover of a killed push is removed");
    assert!(fresh.exists(), "a temp file of a push still running is not");

    let expected = 0o666 & !umask();
    let mut files = vec![cache.path().join("nix-cache-info")];
    for dir in [cache.path().to_path_buf(), nar_dir.clone()] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".narinfo") || name.ends_with(".nar.zst") {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() >= 7, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), expected, "{}", f.display());
    }
}

//! `forge cache push --to attic+http://` against the Attic protocol test double.

use crate::support::attic_double::AtticDouble;
use crate::support::{forge, nix, nix_keypair, stderr, Flake};

fn push(double: &AtticDouble, token: &str, paths: &[&str], extra: &[&str]) -> std::process::Output {
    forge()
        .env("ATTIC_TOKEN", token)
        .args(["--json", "cache", "push", "--to", &double.push_url("main")])
        .args(extra)
        .args(paths)
        .output()
        .unwrap()
}

fn report(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "forge failed:\n{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn pushes_only_missing_paths_and_nix_substitutes_them() {
    let double = AtticDouble::start(&["main"], &[]);
    let token = double.token(&["main:rw"]);
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = nix_keypair(tmp.path(), "forge-attic-1");
    let app = flake.build("app");
    let big = flake.build("big");

    let r = report(&push(
        &double,
        &token,
        &[&app, &big],
        &["--signing-key", sec.to_str().unwrap()],
    ));
    assert_eq!(r["uploaded"].as_array().unwrap().len(), 3);
    let uploads = double
        .requests()
        .iter()
        .filter(|r| r["path"] == "/_api/v1/upload-path")
        .count();
    assert_eq!(uploads, 3);
    assert!(
        double
            .requests()
            .iter()
            .any(|r| r["path"] == "/_api/v1/upload-path" && r["chunked"] == true),
        "the large path should stream"
    );

    let again = report(&push(&double, &token, &[&app, &big], &[]));
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0);
    assert_eq!(again["already_present"], 3);

    // Real Nix reads the double's binary-cache side with the token in a netrc
    // and checks the signature Forge made.
    let netrc = tmp.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1 login x password {token}\n"),
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let out = nix()
        .args([
            "copy",
            "--from",
            &double.read_url("main"),
            "--to",
            store.path().to_str().unwrap(),
        ])
        .args([
            "--option",
            "trusted-public-keys",
            &public,
            "--option",
            "netrc-file",
            netrc.to_str().unwrap(),
        ])
        .arg(&app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn many_references_use_the_preamble_and_batches_are_bounded() {
    let double = AtticDouble::start(&["main"], &[]);
    let token = double.token(&["main:rw"]);
    let wide = Flake::basic().build("wide");
    report(&push(&double, &token, &[&wide], &[]));
    let reqs = double.requests();
    assert!(
        reqs.iter().any(|r| r["preamble"] == true),
        "no preamble upload seen"
    );
    let batches: Vec<u64> = reqs
        .iter()
        .filter_map(|r| r["missing_batch"].as_u64())
        .collect();
    assert_eq!(batches, [121]);
}

#[test]
fn recovers_from_500s_and_429s() {
    let double = AtticDouble::start(&["main"], &["--fail-first", "3", "--throttle-first", "2"]);
    let token = double.token(&["main:rw"]);
    let app = Flake::basic().build("app");
    let r = report(&push(&double, &token, &[&app], &["--jobs", "1"]));
    assert_eq!(r["uploaded"].as_array().unwrap().len(), 2);
    let uploads = double
        .requests()
        .iter()
        .filter(|r| r["path"] == "/_api/v1/upload-path")
        .count();
    assert_eq!(
        uploads,
        2 + 3 + 2,
        "each injected failure should be retried once"
    );
}

#[test]
fn wrong_or_missing_token_fails_clearly_without_printing_it() {
    let double = AtticDouble::start(&["main"], &[]);
    let app = Flake::basic().build("app");
    let read_only = double.token(&["main:r"]);
    let out = push(&double, &read_only, &[&app], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 403") && err.contains("permission w"),
        "{err}"
    );
    assert!(!err.contains(&read_only));

    let out = push(&double, "not-a-jwt", &[&app], &[]);
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not-a-jwt"));

    let out = forge()
        .env("ATTIC_TOKEN", double.token(&["nope:rw"]))
        .args(["cache", "push", "--to", &double.push_url("nope"), &app])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("NoSuchCache"), "{}", stderr(&out));
}

/// Attic leaves to upstream what its cache config says (`attic push` reads
/// `upstream_cache_key_names`), not Forge's default list: a path signed by
/// `cache.nixos.org-1` is uploaded when the cache's upstream is another key,
/// and a path signed by that key is not.
#[test]
fn follows_the_caches_upstream_keys_and_says_signing_keys_do_not_reach_attic() {
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("{}", std::process::id());
    std::fs::write(
        dir.path().join("flake.nix"),
        format!(
            r#"{{ outputs = {{ self }}: let
    sh = n: derivation {{ name = n; system = "{sys}"; builder = "/bin/sh"; args = [ "-c" "echo ${{n}} > $out" ]; }};
  in {{ packages."{sys}" = {{ nixos = sh "forge-upstream-nixos-{tag}"; other = sh "forge-upstream-other-{tag}"; }}; }}; }}"#,
            sys = crate::support::system()
        ),
    )
    .unwrap();
    let build = |attr: &str| {
        let out = crate::support::run_ok(
            nix()
                .args(["build", "--no-link", "--json"])
                .arg(format!("path:{}#{attr}", dir.path().display())),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["outputs"]["out"].as_str().unwrap().to_owned()
    };
    let (nixos_path, other_path) = (build("nixos"), build("other"));
    let (nixos_key, _) = nix_keypair(dir.path(), "cache.nixos.org-1");
    let (other_key, _) = nix_keypair(dir.path(), "other-upstream-1");
    for (key, path) in [(&nixos_key, &nixos_path), (&other_key, &other_path)] {
        crate::support::run_ok(
            nix()
                .args(["store", "sign", "--key-file"])
                .arg(key)
                .arg(path),
        );
    }

    let double = AtticDouble::start(&["main"], &["--upstream-key", "other-upstream-1"]);
    let token = double.token(&["main:rw"]);
    let out = push(
        &double,
        &token,
        &[&nixos_path, &other_path],
        &["--signing-key", nixos_key.to_str().unwrap()],
    );
    let r = report(&out);
    let uploaded: Vec<&str> = r["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["path"].as_str().unwrap())
        .collect();
    assert_eq!(uploaded, [nixos_path.as_str()], "{r}");
    assert_eq!(r["skipped_upstream"], 1, "{r}");
    assert!(
        stderr(&out).contains("--signing-key has no effect"),
        "{}",
        stderr(&out)
    );
}

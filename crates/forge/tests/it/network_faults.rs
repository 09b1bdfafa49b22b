//! Servers that misbehave: never answer, stop reading, drop an upload
//! mid-body, speak the wrong protocol, or quote credentials back. Every
//! command must end with a clear error (or finish by retrying), in bounded
//! time, with only the attempts it was allowed, and print no secret.

use std::process::Output;
use std::time::{Duration, Instant};

use forge_testkit::fault_servers::{CuttingProxy, EchoServer, SilentServer};

use crate::support::attic_double::AtticDouble;
use crate::support::nginx::Nginx;
use crate::support::{forge, nix, nix_keypair, stderr, system, Flake};

fn push(to: &str, paths: &[&str], extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = forge()
        .args(["cache", "push", "--to", to])
        .args(extra)
        .args(paths)
        .output()
        .unwrap();
    (out, started.elapsed())
}

#[test]
fn a_cache_that_never_answers_fails_after_the_idle_timeout_with_the_attempts_asked_for() {
    let flake = Flake::basic();
    let app = flake.build("app");
    for url in ["http://127.0.0.1:{}/c", "attic+http://127.0.0.1:{}/main"] {
        let silent = SilentServer::start();
        let to = url.replace("{}", &silent.port().to_string());
        let (out, took) = push(&to, &[&app], &["--idle-timeout", "1s", "--attempts", "1"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{to}: {err}");
        assert!(
            err.contains(&format!(
                "no answer from 127.0.0.1:{} for 1 s",
                silent.port()
            )),
            "{to}: {err}"
        );
        assert!(took < Duration::from_secs(20), "{to}: took {took:?}");
        assert_eq!(silent.connections(), 1, "{to}: --attempts 1 is one request");

        let silent = SilentServer::start();
        let to = url.replace("{}", &silent.port().to_string());
        let (out, _) = push(&to, &[&app], &["--idle-timeout", "1s", "--attempts", "3"]);
        assert!(!out.status.success());
        assert_eq!(silent.connections(), 3, "{to}: {}", stderr(&out));
    }
}

#[test]
fn a_registry_that_never_answers_fails_after_the_idle_timeout() {
    let flake = Flake::basic();
    let silent = SilentServer::start();
    let started = Instant::now();
    let out = forge()
        .args(["image", "push", &flake.installable("static-hello")])
        .args(["--repo", &format!("127.0.0.1:{}/app", silent.port())])
        .args(["--idle-timeout", "1s", "--attempts", "2"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "no answer from 127.0.0.1:{} for 1 s",
            silent.port()
        )),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "{err}");
    assert_eq!(silent.connections(), 2, "{err}");
}

#[test]
fn tls_failures_are_not_retried() {
    let flake = Flake::basic();
    let app = flake.build("app");
    // HTTPS to nginx speaking plain HTTP: the TLS handshake fails.
    let nginx = Nginx::start();
    let to = format!("https://127.0.0.1:{}/c", nginx.port);
    let (out, took) = push(&to, &[&app], &["--attempts", "4"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("retrying"), "a TLS error is final: {err}");
    assert!(took < Duration::from_secs(10), "{err}");
}

#[test]
fn secrets_in_urls_and_echoed_credentials_are_never_printed() {
    let flake = Flake::basic();
    let app = flake.build("app");
    let secret = "Sup3rSecretPw";
    for to in [
        format!("http://pusher:{secret}@127.0.0.1:99999/c"),
        format!("http://pusher:{secret}@[::1/c"),
        format!("attic+http://pusher:{secret}@127.0.0.1:1/main"),
    ] {
        let (out, _) = push(&to, &[&app], &["--attempts", "1"]);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!out.status.success(), "{to}");
        assert!(!all.contains(secret), "{to}: {all}");
    }

    // A server whose error page quotes the request, Authorization included.
    let echo = EchoServer::start(500);
    let to = format!("http://pusher:{secret}@127.0.0.1:{}/c", echo.port());
    let (out, _) = push(&to, &[&app], &["--attempts", "1"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("HTTP 500"), "{err}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("pusher:{secret}"));
    assert!(!err.contains(secret) && !err.contains(&basic), "{err}");
    assert!(
        err.contains("<redacted>"),
        "the echo is shown, redacted: {err}"
    );
}

#[test]
fn an_attic_upload_dropped_or_stalled_mid_nar_is_sent_again_and_nix_substitutes_it() {
    for fault in ["--drop-first", "--stall-first"] {
        let double = AtticDouble::start(&["main"], &[fault, "1", "--fault-after", "1048576"]);
        let token = double.token(&["main:rw"]);
        let flake = Flake::basic();
        let big = flake.build("big");
        let out = forge()
            .env("ATTIC_TOKEN", &token)
            .args(["--json", "cache", "push", "--to", &double.push_url("main")])
            .args(["--idle-timeout", "2s", &big])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{fault}: {err}");
        assert!(
            !err.contains("from the store"),
            "not the store's fault: {err}"
        );
        assert!(err.contains("retrying"), "{fault}: {err}");
        if fault == "--stall-first" {
            assert!(err.contains("no answer from 127.0.0.1"), "{err}");
        }
        let faults = double
            .requests()
            .iter()
            .filter(|r| r.get("fault").is_some())
            .count();
        assert_eq!(faults, 1, "{fault}");
        substitute_from_double(&double, &token, &[&big]);
    }
}

/// The issue's soak: 20 large pushes, each cut mid-NAR once, all complete by
/// retry, and real Nix then substitutes every one of them.
#[test]
fn twenty_interrupted_large_pushes_all_complete_and_the_cache_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flake.nix"),
        format!(
            r#"{{ outputs = {{ self }}: let
    sh = a: derivation (a // {{ system = "{}"; builder = "/bin/sh"; PATH = "/bin:/usr/bin"; }});
    big = i: sh {{ name = "forge-soak-${{toString i}}"; args = [ "-c" "mkdir $out; head -c 5000000 /dev/urandom > $out/blob; echo ${{toString i}} > $out/id" ]; }};
  in {{ packages."{}".default = sh {{ name = "forge-soak"; args = [ "-c" "echo ${{toString (builtins.genList big 20)}} > $out" ]; }}; }}; }}"#,
            system(),
            system()
        ),
    )
    .unwrap();
    let out = nix()
        .args(["build", "--no-link", "--json"])
        .arg(format!("path:{}", dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = v[0]["outputs"]["out"].as_str().unwrap().to_owned();

    let double = AtticDouble::start(
        &["main"],
        &["--drop-first", "20", "--fault-after", "2097152"],
    );
    let token = double.token(&["main:rw"]);
    let out = forge()
        .env("ATTIC_TOKEN", &token)
        .args(["--json", "cache", "push", "--to", &double.push_url("main")])
        .args(["--attempts", "10", &root])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dropped = double
        .requests()
        .iter()
        .filter(|r| r["fault"] == "dropped")
        .count();
    assert_eq!(dropped, 20);
    substitute_from_double(&double, &token, &[&root]);
}

#[test]
fn an_http_upload_cut_mid_nar_is_sent_again() {
    let nginx = Nginx::start();
    let proxy = CuttingProxy::start(nginx.port, b"PUT /c/nar/", 1 << 20, 1);
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = nix_keypair(tmp.path(), "forge-cut-1");
    let big = flake.build("big");
    let (out, _) = push(
        &format!("http://127.0.0.1:{}/c", proxy.port()),
        &[&big],
        &["--signing-key", sec.to_str().unwrap()],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(proxy.cuts(), 1, "{err}");
    assert!(err.contains("retrying"), "{err}");
    // Straight from nginx: the narinfo and the whole NAR are there.
    let (out, _store) = crate::support::substitute(&nginx.url("c"), &public, &big, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Real Nix copies `paths` (with their closures) from the double's read side.
fn substitute_from_double(double: &AtticDouble, token: &str, paths: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let netrc = tmp.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1 login x password {token}\n"),
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let out = nix()
        .args(["copy", "--from", &double.read_url("main"), "--to"])
        .arg(store.path())
        .args(["--option", "require-sigs", "false"])
        .args(["--option", "netrc-file", netrc.to_str().unwrap()])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

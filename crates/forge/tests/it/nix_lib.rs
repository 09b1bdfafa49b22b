//! The flake's pure Nix library (`lib/`), evaluated by real Nix.

use crate::support::{nix, run_ok, stderr};

fn lib_expr(call: &str) -> String {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lib");
    format!("(import {}).{call}", lib.canonicalize().unwrap().display())
}

#[test]
fn substituter_settings_evaluate_and_reject_bad_input() {
    let key = "quickstart-1:V4dL3KRGgDAF16zkzDthjpWjQ1iQd9hjtZ+3tXSTrKA=";
    let out = run_ok(nix().args(["eval", "--impure", "--json", "--expr", &lib_expr(&format!(
        r#"substituterSettings {{ url = "file:///tmp/c"; publicKey = "{key}"; priority = 30; }}"#
    ))]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["extra-substituters"][0], "file:///tmp/c?priority=30");
    assert_eq!(v["extra-trusted-public-keys"][0], key);

    let out = nix()
        .args([
            "eval",
            "--impure",
            "--json",
            "--expr",
            &lib_expr(r#"substituterSettings { url = "s3://x"; publicKey = "k:x"; }"#),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("url must be file://"),
        "{}",
        stderr(&out)
    );
}

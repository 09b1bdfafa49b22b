//! `forge build` against real Nix.

use crate::support::{forge, run_ok, stdout, Flake};

#[test]
fn json_names_installable_drv_and_outputs() {
    let flake = Flake::basic();
    let expected = flake.build("app");
    let out = run_ok(forge().args(["build", "--json", &flake.installable("app")]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "forge.build/v1");
    let v = &v["builds"];
    assert_eq!(v[0]["installable"], flake.installable("app"));
    assert!(v[0]["drv_path"]
        .as_str()
        .unwrap()
        .ends_with("-forge-test-app.drv"));
    assert_eq!(v[0]["outputs"]["out"], expected);
}

#[test]
fn plain_output_is_the_store_paths() {
    let flake = Flake::basic();
    let out = run_ok(forge().args([
        "build",
        &flake.installable("app"),
        &flake.installable("lib"),
    ]));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines, [flake.build("app"), flake.build("lib")]);
}

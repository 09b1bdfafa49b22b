//! Product releases, continued: flake checks (`prerelease`), the
//! integration test (`comprehensive-release`), time windows, checks run
//! again at a gate, and `forge status --product`.

use serde_json::Value;

use crate::release_local::Fleet;
use crate::release_product::{pinned, product};
use crate::support::stderr;

/// The test flake (from deploy.yaml's `flake:`) gets `checks.<system>.good`
/// and `.bad`; the product runs `checks`.
fn with_checks(f: &Fleet, checks: &str) {
    let yaml = std::fs::read_to_string(f.path("deploy.yaml")).unwrap();
    let flake_dir = yaml
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("flake: path:")
        .to_owned();
    let file = std::path::Path::new(&flake_dir).join("flake.nix");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "    in {\n      packages.${system} = {",
        "    in {\n      checks.${system} = {\n        good = sh { name = \"check-good\"; args = [ \"-c\" \"echo fine > $out\" ]; };\n        bad = sh { name = \"check-bad\"; args = [ \"-c\" \"echo the check explains what broke >&2; exit 1\" ]; };\n      };\n      packages.${system} = {",
    );
    std::fs::write(&file, text).unwrap();
    std::fs::write(
        f.path("deploy.yaml"),
        yaml.replace(
            "    environments: [dev, prod]\n",
            &format!("    environments: [dev, prod]\n    checks: {checks}\n"),
        ),
    )
    .unwrap();
}

#[test]
fn prerelease_checks_then_releases_the_first_environment_only() {
    let f = product("{}");
    with_checks(&f, "[bad]");
    let before = pinned(&f, "apps/app/kustomization.yaml");
    let (out, v) = f.run(&["prerelease", "shop"]);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "shop/dev/check", "{v}");
    assert!(
        v["failed"][1]
            .as_str()
            .unwrap()
            .contains("the check explains what broke"),
        "{v}"
    );
    assert_eq!(
        pinned(&f, "apps/app/kustomization.yaml"),
        before,
        "nothing pushed or pinned"
    );

    let yaml = std::fs::read_to_string(f.path("deploy.yaml"))
        .unwrap()
        .replace("checks: [bad]", "checks: [good]");
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    let (out, v) = f.run(&["prerelease", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let keys: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"shop/dev/check") && keys.contains(&"app/dev/pin"),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains("/prod/")),
        "stops after the first environment: {keys:?}"
    );
    assert_ne!(pinned(&f, "apps/app/kustomization.yaml"), before);
    assert_ne!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "apps/app/kustomization.yaml")
    );

    // comprehensive-release: the checks, then every environment.
    let (out, v) = f.run(&["comprehensive-release", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "apps/app/kustomization.yaml")
    );
}

#[test]
fn outside_its_time_window_a_gate_waits_and_says_when_it_opens() {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // 1970-01-01 was a Thursday.
    let today = ((since_epoch / 86_400 + 3) % 7) as usize;
    let other = DAYS[(today + 3) % 7];
    let f = product(&format!(
        "{{window: {{days: [{other}], from: \"00:00\", to: \"24:00\", zone: UTC}}}}"
    ));
    let (out, v) = f.run(&["product-release", "shop"]);
    assert_eq!(out.status.code(), Some(3), "{}\n{v}", stderr(&out));
    let why = v["waiting"][0][1][0].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "window: open {other} 00:00–24:00 UTC (now {}",
            DAYS[today]
        )),
        "{why}"
    );
}

#[test]
fn comprehensive_release_runs_the_integration_test_between_the_environments() {
    let f = product("{}");
    let yaml = std::fs::read_to_string(f.path("deploy.yaml")).unwrap().replace(
        "    environments: [dev, prod]\n",
        "    environments: [dev, prod]\n    checks: [good]\n    integration_test:\n      image: registry.example/shop-tests:1\n      command: [sh, -c, 'echo \"$FORGE_MIGRATION $FORGE_IMAGE commits=$(git --git-dir \"$FORGE_TEST_DIR/gitops.git\" rev-list --count main)\" >> \"$FORGE_TEST_DIR/it.log\"; test ! -e \"$FORGE_TEST_DIR/fail\"']\n",
    );
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    with_checks(&f, "[good]");
    let yaml = std::fs::read_to_string(f.path("deploy.yaml"))
        .unwrap()
        .replacen("    checks: [good]\n", "", 1);
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    let dir = f.path("");
    std::fs::write(f.path("fail"), "").unwrap();
    let run = |args: &[&str]| {
        let out = f
            .forge_cmd(args)
            .env("FORGE_TEST_DIR", &dir)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    };
    // A failing integration test: production is not touched.
    let before = pinned(&f, "prod/app/kustomization.yaml");
    let (out, v) = run(&["comprehensive-release", "shop"]);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "shop/dev/integration-test", "{v}");
    assert_eq!(pinned(&f, "prod/app/kustomization.yaml"), before);

    std::fs::remove_file(f.path("fail")).unwrap();
    let (out, v) = run(&["comprehensive-release", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let log = std::fs::read_to_string(f.path("it.log")).unwrap();
    let last = log.lines().last().unwrap();
    // Seed, prod seed and the two dev pins: after dev, before prod.
    assert_eq!(
        last, "integration-test registry.example/shop-tests:1 commits=4",
        "{log}"
    );
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "apps/app/kustomization.yaml")
    );
}

#[test]
fn status_of_a_product_covers_its_services_in_its_environments() {
    let f = product("{}");
    let yaml = std::fs::read_to_string(f.path("deploy.yaml"))
        .unwrap()
        .replace("services:\n  app:", "services:\n  other: {}\n  app:");
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    let (out, v) = f.run(&["product-release", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let (out, report) = f.run(&["status", "--product", "shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut seen: Vec<String> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["service"].as_str().unwrap(),
                t["environment"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ["app/dev", "app/prod", "lib/dev", "lib/prod"],
        "not `other`: {report}"
    );
    // `release list --env` finds the product run in either environment.
    let (_, listed) = f.run(&["release", "list", "--env", "prod"]);
    assert_eq!(listed[0]["id"], v["run"], "{listed}");
    // The product run counts for both environments: ledger and git agree.
    for t in report["targets"].as_array().unwrap() {
        assert_eq!(t["drift"], "in-sync", "{t}");
    }
    let (out, _) = f.run(&["status", "--product", "shpo"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `shop`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_gate_runs_the_named_checks_again_as_it_would_open() {
    let f = product("{approvals: 1, verify: [smoke]}");
    let yaml = std::fs::read_to_string(f.path("deploy.yaml")).unwrap().replace(
        "  app: {}\n",
        "  app:\n    verify:\n      - name: smoke\n        command: [sh, -c, 'test ! -e \"$FORGE_TEST_DIR/broken\" || { echo smoke broke >&2; exit 1; }']\n",
    );
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    let dir = f.path("");
    let run = |actor: &str, args: &[&str]| {
        let out = f
            .forge_cmd(args)
            .env("FORGE_TEST_DIR", &dir)
            .env("FORGE_ACTOR", actor)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    };
    let (out, v) = run("ci", &["product-release", "shop"]);
    assert_eq!(out.status.code(), Some(3), "{}\n{v}", stderr(&out));
    let release = v["release"].as_str().unwrap().to_owned();
    // Something breaks in dev while the release waits for its approval.
    std::fs::write(f.path("broken"), "").unwrap();
    let before = pinned(&f, "prod/app/kustomization.yaml");
    let (out, v) = run("alice", &["release", "approve", &release, "--env", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "shop/prod/gate", "{v}");
    let why = v["failed"][1].as_str().unwrap();
    assert!(
        why.contains("check smoke of app failed in dev") && why.contains("smoke broke"),
        "{why}"
    );
    assert_eq!(pinned(&f, "prod/app/kustomization.yaml"), before);

    // A gate naming a check nobody has is refused when the file is read.
    let yaml = std::fs::read_to_string(f.path("deploy.yaml"))
        .unwrap()
        .replace("verify: [smoke]", "verify: [smok]");
    std::fs::write(f.path("deploy.yaml"), yaml).unwrap();
    let (out, _) = run("ci", &["product-release", "shop", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no check `smok`") && stderr(&out).contains("did you mean `smoke`"),
        "{}",
        stderr(&out)
    );
}

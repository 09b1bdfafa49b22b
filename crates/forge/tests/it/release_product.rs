//! `forge product-release` without a cluster: `app` and `lib` through `dev`
//! then `prod`, built once, `prod` behind a gate (a soak and two approvals).
//! The run waits at the gate (exit 3), approvals by distinct identities
//! open it (the same one twice counts once), the soak is read from the
//! ledger's timestamps, `prod` gets the digests `dev` got; a rejection fails
//! the run and leaves `prod` alone; approving a release that waits nowhere
//! is refused.

use std::process::Output;

use serde_json::Value;

use crate::release_local::Fleet;
use crate::support::git::git;
use crate::support::stderr;

/// A fleet whose GitOps repo also has `prod/{app,lib}` and whose deploy.yaml
/// has `dev` and `prod` and the product `shop` with `gate` before prod.
fn product(gate: &str) -> Fleet {
    let f = Fleet::new();
    let work = f.path("work");
    git(
        f.path("").as_path(),
        &[
            "clone",
            "-q",
            f.path("gitops.git").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    for s in ["app", "lib"] {
        let dir = work.join("prod").join(s);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            work.join("apps").join(s).join("kustomization.yaml"),
            dir.join("kustomization.yaml"),
        )
        .unwrap();
    }
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "prod",
        ],
    );
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
    let yaml = std::fs::read_to_string(f.path("deploy.yaml")).unwrap().replace(
        "environments:\n  dev:\n    cluster: false\n    kustomization: apps/{service}/kustomization.yaml\n",
        "environments:\n  dev:\n    cluster: false\n    kustomization: apps/{service}/kustomization.yaml\n  prod:\n    cluster: false\n    kustomization: prod/{service}/kustomization.yaml\n",
    );
    std::fs::write(
        f.path("deploy.yaml"),
        format!("{yaml}products:\n  shop:\n    services: [app, lib]\n    environments: [dev, prod]\n    gates:\n      prod: {gate}\n"),
    )
    .unwrap();
    f
}

fn as_actor(f: &Fleet, actor: &str, args: &[&str]) -> (Output, Value) {
    let out = f
        .forge_cmd(args)
        .env("FORGE_ACTOR", actor)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn pinned(f: &Fleet, path: &str) -> String {
    let text = git(
        f.path("").as_path(),
        &["--git-dir", "gitops.git", "show", &format!("main:{path}")],
    );
    text.lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn a_product_waits_at_its_gate_until_two_people_approved_then_promotes_the_same_digests() {
    let f = product("{approvals: 2}");
    let (out, plan) = f.run(&["product-release", "shop", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let keys: Vec<&str> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"shop/prod/gate") && !keys.contains(&"app/prod/build"),
        "{keys:?}"
    );

    let (out, v) = f.run(&["product-release", "shop"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "waiting is exit 3: {}\n{v}",
        stderr(&out)
    );
    assert_eq!(v["state"], "waiting", "{v}");
    assert_eq!(v["waiting"][0][0], "shop/prod/gate");
    assert_eq!(v["waiting"][0][1][0], "waiting: 0 of 2 approvals for prod");
    let release = v["release"].as_str().unwrap().to_owned();
    let dev_app = pinned(&f, "apps/app/kustomization.yaml");
    assert!(dev_app.starts_with("sha256:"), "dev is released");
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "prod/lib/kustomization.yaml"),
        "prod untouched"
    );
    assert_ne!(pinned(&f, "prod/app/kustomization.yaml"), dev_app);
    assert_eq!(f.newest_run()["state"], "waiting");
    // `release show` says where it waits and why.
    let (_, shown) = f.run(&["release", "show", v["run"].as_str().unwrap()]);
    assert_eq!(shown["waiting"][0][0], "shop/prod/gate", "{shown}");
    assert_eq!(shown["waiting"][0][1], "waiting: 0 of 2 approvals for prod");

    let approve = ["release", "approve", release.as_str(), "--env", "prod"];
    let (out, v) = as_actor(&f, "alice", &approve);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(v["waiting"][0][1][0], "waiting: 1 of 2 approvals for prod");
    let (out, v) = as_actor(&f, "alice", &approve);
    assert_eq!(
        out.status.code(),
        Some(3),
        "one person twice counts once: {v}"
    );
    let (out, v) = as_actor(
        &f,
        "bob",
        &[&approve[..], &["--comment", "looks good"]].concat(),
    );
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        dev_app,
        "the same digest everywhere"
    );
    assert_eq!(
        pinned(&f, "prod/lib/kustomization.yaml"),
        pinned(&f, "apps/lib/kustomization.yaml")
    );

    // Who approved, in the audit log.
    let audit = f.forge_cmd(&["release", "audit"]).output().unwrap();
    let approvals: Vec<Value> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["action"] == "release.approved")
        .collect();
    assert_eq!(approvals.len(), 3);
    assert_eq!(approvals[2]["actor"], "bob");
    assert_eq!(approvals[2]["after"]["comment"], "looks good");

    // Nothing waits any more: another approval is refused.
    let (out, _) = as_actor(&f, "carol", &approve);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not waiting at a gate for prod"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_soak_is_read_from_the_ledger_and_a_rejection_fails_the_run() {
    let f = product("{soak: 6s}");
    let (out, v) = f.run(&["product-release", "shop"]);
    assert_eq!(out.status.code(), Some(3), "{}\n{v}", stderr(&out));
    let why = v["waiting"][0][1][0].as_str().unwrap();
    assert!(
        why.starts_with("soak: ") && why.ends_with(" left in dev"),
        "{why}"
    );
    let run = v["run"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(6200));
    // A new process: what is left of the soak comes from the ledger.
    let (out, v) = f.run(&["release", "resume", &run]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(v["state"], "succeeded");

    let f = product("{approvals: 1}");
    let (out, v) = f.run(&["product-release", "shop"]);
    assert_eq!(out.status.code(), Some(3));
    let release = v["release"].as_str().unwrap().to_owned();
    let before = pinned(&f, "prod/app/kustomization.yaml");
    let (out, v) = as_actor(
        &f,
        "carol",
        &[
            "release",
            "reject",
            &release,
            "--env",
            "prod",
            "--comment",
            "not today",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "shop/prod/gate");
    assert!(
        v["failed"][1]
            .as_str()
            .unwrap()
            .contains("rejected for prod by carol: not today"),
        "{v}"
    );
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        before,
        "prod untouched"
    );
}

/// deploy.yaml with `app`'s image labelled `variant` (another digest).
fn relabel(f: &Fleet, variant: &str) {
    let yaml = std::fs::read_to_string(f.path("deploy.yaml")).unwrap();
    let start = yaml.find("services:\n").unwrap();
    let services = &yaml[start..];
    let end = services.find("\n  lib:").unwrap();
    let replaced = format!(
        "{}services:\n  app:\n    image: {{labels: {{variant: {variant}}}}}{}",
        &yaml[..start],
        &services[end..]
    );
    std::fs::write(f.path("deploy.yaml"), replaced).unwrap();
}

#[test]
fn a_release_rollback_restores_every_service_and_pauses_promotion_until_unpaused() {
    let f = product("{}");
    relabel(&f, "one");
    let (out, v) = f.run(&["product-release", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let first = v["release"].as_str().unwrap().to_owned();
    let (app1, lib1) = (
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "prod/lib/kustomization.yaml"),
    );

    relabel(&f, "two");
    let (out, v) = f.run(&["product-release", "shop"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_ne!(v["release"], first.as_str());
    let app2 = pinned(&f, "prod/app/kustomization.yaml");
    assert_ne!(app2, app1, "a new digest for app");

    let (out, v) = as_actor(
        &f,
        "dana",
        &["release", "rollback", "prod", "--product", "shop"],
    );
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(v["release"], first.as_str(), "{v}");
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        app1,
        "app is back"
    );
    assert_eq!(pinned(&f, "prod/lib/kustomization.yaml"), lib1, "lib too");
    assert_eq!(
        pinned(&f, "apps/app/kustomization.yaml"),
        app2,
        "dev is not touched"
    );

    // The rollback sticks: a new release reaches dev, then waits before prod.
    relabel(&f, "three");
    let (out, v) = f.run(&["product-release", "shop"]);
    assert_eq!(out.status.code(), Some(3), "{}\n{v}", stderr(&out));
    let why = v["waiting"][0][1][0].as_str().unwrap();
    assert!(
        why.contains("paused")
            && why.contains("dana")
            && why.contains("forge release unpause prod"),
        "{why}"
    );
    assert_eq!(pinned(&f, "prod/app/kustomization.yaml"), app1);
    let run = v["run"].as_str().unwrap().to_owned();

    let (out, _) = f.run(&["release", "unpause", "prod"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, v) = f.run(&["release", "resume", &run]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "apps/app/kustomization.yaml")
    );
    assert_ne!(pinned(&f, "prod/app/kustomization.yaml"), app1);

    // Nothing earlier than the first release: a clear error.
    let g = product("{}");
    let (out, _) = g.run(&["product-release", "shop"]);
    assert!(out.status.success());
    let (out, _) = g.run(&["release", "rollback", "prod", "--product", "shop"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no earlier release"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn promote_refuses_what_has_not_soaked_upstream_then_pins_the_same_digests() {
    let f = product("{soak: 6s}");
    // Released to dev alone (not through the product).
    let (out, v) = f.run(&["orchestrate-release", "app", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let release = v["release"].as_str().unwrap().to_owned();
    let promote = [
        "promote",
        release.as_str(),
        "--to",
        "prod",
        "--product",
        "shop",
    ];
    let (out, _) = f.run(&promote);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to promote") && stderr(&out).contains("left in dev"),
        "{}",
        stderr(&out)
    );
    let before = pinned(&f, "prod/app/kustomization.yaml");
    std::thread::sleep(std::time::Duration::from_millis(6100));
    let (out, plan) = f.run(&[&promote[..], &["--dry-run"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = plan["diffs"]["app"].as_str().unwrap();
    assert!(
        diff.contains("prod/app/kustomization.yaml") && diff.contains("+    digest: sha256:"),
        "{plan}"
    );
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        before,
        "a dry run pins nothing"
    );
    let (out, v) = f.run(&promote);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(v["release"], release.as_str());
    assert_eq!(
        pinned(&f, "prod/app/kustomization.yaml"),
        pinned(&f, "apps/app/kustomization.yaml")
    );
    assert_eq!(
        pinned(&f, "prod/lib/kustomization.yaml"),
        pinned(&f, "apps/lib/kustomization.yaml")
    );

    // To prod only from dev: a release that never reached dev is refused.
    let (out, _) = f.run(&[
        "promote",
        "rel-0123456789abcdef",
        "--to",
        "prod",
        "--product",
        "shop",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no release"), "{}", stderr(&out));
}

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

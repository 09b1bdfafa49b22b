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
pub(crate) fn product(gate: &str) -> Fleet {
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

pub(crate) fn pinned(f: &Fleet, path: &str) -> String {
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

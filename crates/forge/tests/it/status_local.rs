//! `forge status` without a cluster: a real release run recorded in an
//! SQLite ledger, a real bare GitOps repository, commits pushed behind
//! Forge's back, and the remote taken away.

use serde_json::Value;

use crate::release_local::Fleet;
use crate::support::git::git;
use crate::support::{stderr, stdout};

const HAND_DIGEST: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";

fn status(fleet: &Fleet, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["status"];
    args.extend_from_slice(extra);
    fleet.run(&args)
}

fn target<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == service)
        .unwrap_or_else(|| panic!("no {service} in {report}"))
}

/// Pushes a commit that pins `digest` for `service`, as a person would.
fn pin_by_hand(fleet: &Fleet, service: &str, digest: &str) {
    let work = fleet.path(&format!("hand-{service}"));
    let bare = fleet.path("gitops.git");
    git(
        &fleet.path(""),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let file = work.join(format!("apps/{service}/kustomization.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for l in &mut lines {
        if l.trim_start().starts_with("digest:") {
            *l = format!("    digest: {digest}");
        }
    }
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    git(&work, &["commit", "-q", "-am", "hotfix by hand"]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
}

#[test]
fn status_follows_the_ledger_and_git_through_a_release_and_a_hand_edit() {
    let fleet = Fleet::with_services("  app: {}\n  lib:\n    depends_on: [app]\n");

    // Nothing released yet: git pins the seed, the ledger knows nothing.
    let (out, before) = status(&fleet, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(before["schema"], "forge.status/v1");
    assert_eq!(before["targets"].as_array().unwrap().len(), 2);
    let app = target(&before, "app");
    assert_eq!(app["drift"], "ledger-stale", "{app}");
    assert!(
        app["explanation"]
            .as_str()
            .unwrap()
            .contains("the ledger has no succeeded run here"),
        "{app}"
    );
    assert_eq!(app["git"]["state"], "read");
    assert_eq!(app["git"]["pin_commit"]["subject"], "seed");
    assert_eq!(app["cluster"]["state"], "disabled");

    let (out, run) = fleet.run(&["orchestrate-release", "app", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(run["state"], "succeeded", "{run}");
    let run_id = run["run"].as_str().unwrap().to_owned();

    // Released: the ledger and git agree on both.
    let (out, after) = status(&fleet, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{after}", stderr(&out));
    for service in ["app", "lib"] {
        let t = target(&after, service);
        assert_eq!(t["drift"], "in-sync", "{t}");
        let shipped = t["ledger"]["deployed"]["digest"].as_str().unwrap();
        assert_eq!(t["git"]["pin"]["digest"], shipped, "{t}");
        assert_eq!(t["ledger"]["deployed"]["run"], run_id.as_str());
        assert_eq!(t["ledger"]["last_run"]["state"], "succeeded");
        let commit = t["ledger"]["deployed"]["commit"].as_str().unwrap();
        assert_eq!(t["git"]["pin_commit"]["id"], commit, "{t}");
        assert!(
            t["explanation"]
                .as_str()
                .unwrap()
                .contains("has no cluster"),
            "{t}"
        );
    }
    assert_eq!(after["summary"]["in-sync"], 2);

    // A hotfix pushed by hand: app's ledger record is stale, lib is not.
    pin_by_hand(&fleet, "app", HAND_DIGEST);
    let (out, hand) = status(&fleet, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let app = target(&hand, "app");
    assert_eq!(app["drift"], "ledger-stale", "{app}");
    assert_eq!(app["git"]["pin"]["digest"], HAND_DIGEST);
    assert_eq!(app["git"]["pin_commit"]["author"], "forge-test");
    let why = app["explanation"].as_str().unwrap();
    assert!(
        why.contains("git changed outside Forge") && why.contains(&run_id),
        "{why}"
    );
    assert_eq!(target(&hand, "lib")["drift"], "in-sync");

    // Filters, and the table for people (no colour off a terminal).
    let (out, only) = status(&fleet, &["--service", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(only["targets"].as_array().unwrap().len(), 1);
    let out = crate::support::forge()
        .args(["status", "--config"])
        .arg(fleet.path("deploy.yaml"))
        .env_remove("FORGE_LEDGER")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("SERVICE"), "{text}");
    assert!(
        text.contains("ledger-stale") && text.contains("in-sync"),
        "{text}"
    );
    assert!(text.contains("git changed outside Forge"), "{text}");
    assert!(
        text.contains("2 target(s): 1 in-sync, 1 ledger-stale"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour off a terminal: {text:?}");
}

#[test]
fn status_says_unknown_when_git_cannot_be_read_and_refuses_bad_names() {
    let fleet = Fleet::with_services("  app: {}\n");
    let (out, _) = status(&fleet, &["--env", "prdo"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("prdo"), "{}", stderr(&out));
    let (out, _) = status(&fleet, &["--service", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no service `nope`"),
        "{}",
        stderr(&out)
    );

    // The remote is gone (and the cached clone cannot be fetched).
    std::fs::rename(fleet.path("gitops.git"), fleet.path("moved.git")).unwrap();
    let (out, v) = status(&fleet, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(2), "{}\n{v}", stderr(&out));
    let app = target(&v, "app");
    assert_eq!(app["drift"], "unknown", "{app}");
    assert_eq!(app["git"]["state"], "unreadable");
    assert!(
        app["explanation"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the GitOps repository: "),
        "{app}"
    );
}

#[test]
fn a_later_migration_run_is_the_last_run_and_status_stays_in_sync() {
    let fleet = Fleet::with_services("  app:\n    migrations:\n      command: [sh, -c, 'true']\n");
    let (out, release) = fleet.run(&["orchestrate-release", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shipped_by = release["run"].as_str().unwrap().to_owned();
    let (out, migrated) = fleet.run(&["run-migrations", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{migrated}", stderr(&out));
    let migration_run = migrated["run"].as_str().unwrap().to_owned();
    assert_ne!(migration_run, shipped_by);

    let (out, v) = status(&fleet, &["--exit-code"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{v}", stderr(&out));
    let app = target(&v, "app");
    assert_eq!(app["drift"], "in-sync", "{app}");
    assert_eq!(app["ledger"]["last_run"]["id"], migration_run.as_str());
    // The migration run published the same image: the digest git pins.
    assert_eq!(
        app["ledger"]["deployed"]["digest"],
        app["git"]["pin"]["digest"]
    );
    assert_eq!(
        app["ledger"]["deployed"]["digest"],
        release_digest(&fleet, &shipped_by).as_str()
    );
}

/// The digest run `run`'s `app` image step published, from `forge release show`.
fn release_digest(fleet: &Fleet, run: &str) -> String {
    let (out, shown) = fleet.run(&["release", "show", run]);
    assert!(out.status.success(), "{}", stderr(&out));
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "app/dev/image")
        .and_then(|s| s["outputs"]["digest"].as_str())
        .unwrap_or_else(|| panic!("no image digest in {shown}"))
        .to_owned()
}

//! Migrations without a cluster (`cluster: false`): the command runs on the
//! release machine with the FORGE_* variables, `before` ones ahead of the
//! pin and `after` ones behind it; a failed migration stops its service (no
//! pin) and what depends on it, with the command's output in the error;
//! `forge run-migrations` runs them alone. The Job form is tested on the
//! Kubernetes test environment (`kube_release.rs`).

use crate::release_local::{states, Fleet};
use crate::support::stderr;

/// `app` migrates before and after its pin; each migration appends its
/// variables and the GitOps commit count at that moment to `migrations.log`.
fn fleet(before: &str) -> Fleet {
    Fleet::with_services(&format!(
        "  app:\n    migrations:\n      - name: schema\n        command: [sh, -c, '{before}']\n      - name: backfill\n        phase: after\n        command: [sh, -c, '{LOG_LINE}']\n  lib:\n    depends_on: [app]\n"
    ))
}

const LOG_LINE: &str = "echo \"$FORGE_MIGRATION $FORGE_SERVICE $FORGE_ENV $FORGE_RUN commits=$(git --git-dir \"$FORGE_TEST_DIR/gitops.git\" rev-list --count main) image=$FORGE_IMAGE\" >> \"$FORGE_TEST_DIR/migrations.log\"; echo migrated $FORGE_MIGRATION";

fn log(f: &Fleet) -> Vec<String> {
    std::fs::read_to_string(f.path("migrations.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn migrations_run_before_and_after_the_pin_and_run_migrations_runs_them_alone() {
    let f = fleet(LOG_LINE);
    let dir = f.path("");
    let (out, v) = {
        let mut c = f.forge_cmd(&["orchestrate-release", "app", "lib", "--env", "dev"]);
        let out = c.env("FORGE_TEST_DIR", &dir).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, v)
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let run = v["run"].as_str().unwrap().to_owned();
    let keys: Vec<String> = states(&v).into_iter().map(|(k, _)| k).collect();
    for k in ["app/dev/migrate-before", "app/dev/migrate-after"] {
        assert!(keys.contains(&k.to_owned()), "{k} in {keys:?}");
    }
    let lines = log(&f);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // The seed commit only before the pin; app's pin after it.
    assert!(
        lines[0].starts_with(&format!("schema app dev {run} commits=1 image=")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("backfill app dev {run} commits=2 image=")),
        "{}",
        lines[1]
    );
    assert!(
        lines[0].contains("@sha256:"),
        "the image by digest: {}",
        lines[0]
    );
    let before = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "app/dev/migrate-before")
        .unwrap();
    assert_eq!(
        before["outputs"]["migrations"][0]["how"], "local",
        "{before}"
    );
    assert_eq!(
        before["outputs"]["migrations"][0]["log_tail"],
        "migrated schema"
    );

    // Alone: both migrations, no pin.
    let commits = f.messages().len();
    let mut c = f.forge_cmd(&["run-migrations", "app", "--env", "dev"]);
    let out = c.env("FORGE_TEST_DIR", &dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<String> = states(&v).into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "app/dev/build",
            "app/dev/cache",
            "app/dev/image",
            "app/dev/migrate-after",
            "app/dev/migrate-before"
        ]
    );
    assert_eq!(log(&f).len(), 4);
    assert_eq!(f.messages().len(), commits, "run-migrations pins nothing");

    // A service without migrations is refused before anything runs.
    let (out, _) = f.run(&["run-migrations", "lib", "--env", "dev"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("has no migrations"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failed_migration_stops_its_service_and_what_depends_on_it() {
    let f = fleet("echo applying 0042 >&2; echo relation users already exists >&2; exit 3");
    let (out, v) = f.run(&["orchestrate-release", "app", "lib", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["failed"][0], "app/dev/migrate-before", "{v}");
    let error = v["failed"][1].as_str().unwrap();
    assert!(error.contains("migration schema"), "{error}");
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(error.contains("relation users already exists"), "{error}");
    let st = states(&v);
    let state = |k: &str| st.iter().find(|(key, _)| key == k).map(|(_, s)| s.as_str());
    assert_eq!(state("app/dev/pin"), Some("skipped"));
    assert_eq!(state("lib/dev/pin"), Some("skipped"));
    assert_eq!(f.pins_of("app") + f.pins_of("lib"), 0, "nothing pinned");
    // The kept error is in the ledger too.
    let run = v["run"].as_str().unwrap();
    let (_, shown) = f.run(&["release", "show", run]);
    let kept = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "app/dev/migrate-before")
        .unwrap();
    assert!(
        kept["error"].as_str().unwrap().contains("already exists"),
        "{kept}"
    );
}

//! `forge deploy` and `forge rollback` are recorded as one-service runs in
//! the same ledger as release runs, hold the same lease (a deploy while a
//! release holds the service × environment is refused, naming the holder),
//! and are not resumed (they converge when run again).

use serde_json::Value;

use crate::release_local::Fleet;
use crate::support::stderr;

fn command_of(run: &Value) -> String {
    let spec: Value = serde_json::from_str(run["command"].as_str().unwrap()).unwrap();
    spec["command"].as_str().unwrap().to_owned()
}

#[test]
fn deploys_and_rollbacks_are_runs_in_the_ledger() {
    let f = Fleet::new();
    let (out, report) = f.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = f.newest_run();
    assert_eq!(command_of(&run), "deploy", "{run}");
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["services"], serde_json::json!(["app"]));
    let (_, shown) = f.run(&["release", "show", run["id"].as_str().unwrap()]);
    let step = &shown["steps"][0];
    assert_eq!(step["key"], "app/dev/deploy", "{shown}");
    assert_eq!(
        step["outputs"]["image"], report["image"],
        "the report is kept"
    );

    // A dry run records nothing.
    let (out, _) = f.run(&["deploy", "app", "--env", "dev", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(f.newest_run()["id"], run["id"]);

    let (out, _) = f.run(&["rollback", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = f.newest_run();
    assert_eq!(command_of(&back), "rollback", "{back}");
    assert_eq!(back["state"], "succeeded");

    let (out, _) = f.run(&["release", "resume", back["id"].as_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("run that command again"),
        "{}",
        stderr(&out)
    );

    // A failing deploy is a failed run with its error.
    std::fs::write(
        f.path("deploy.yaml"),
        std::fs::read_to_string(f.path("deploy.yaml"))
            .unwrap()
            .replace("  app: {}\n", "  app: {attr: nope}\n"),
    )
    .unwrap();
    let (out, _) = f.run(&["deploy", "app", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed = f.newest_run();
    assert_eq!(failed["state"], "failed", "{failed}");
    let (_, shown) = f.run(&["release", "show", failed["id"].as_str().unwrap()]);
    assert!(
        shown["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{shown}"
    );
}

#[test]
fn a_deploy_is_refused_while_a_release_holds_the_service() {
    let f = Fleet::new();
    let out = f
        .forge_cmd(&[
            "orchestrate-release",
            "app",
            "--env",
            "dev",
            "--lease-ttl",
            "60s",
        ])
        .env("FORGE_CRASH_AT", "app/dev/image:after")
        .output()
        .unwrap();
    assert!(stderr(&out).contains("FORGE_CRASH_AT"), "{}", stderr(&out));
    let holder = f.newest_run()["id"].as_str().unwrap().to_owned();
    let (out, _) = f.run(&["deploy", "app", "--env", "dev"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&holder), "names the holder: {err}");
    assert_eq!(f.messages().len(), 1, "nothing pinned");
}

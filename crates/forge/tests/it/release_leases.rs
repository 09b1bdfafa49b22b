//! One writer per service × environment, with real processes, against the
//! SQLite ledger and a real PostgreSQL: a second run is refused naming the
//! holder (and gives back what it took), `--wait` waits for a dead holder's
//! lease to expire, a killed holder is taken over by `resume`; an
//! unreachable PostgreSQL is a clear error without its password.

use std::process::Output;
use std::time::{Duration, Instant};

use forge_testkit::postgres::PgCluster;
use serde_json::Value;

use crate::release_local::{states, Fleet};
use crate::support::stderr;

/// `--ledger` for the backend: none (deploy.yaml's SQLite file) or a fresh
/// PostgreSQL database.
fn ledgers() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if forge_testkit::postgres::is_root() || std::env::var_os("PG_BINDIR").is_some() {
        let name = format!("leases_{}", std::process::id());
        out.push(("postgres", Some(PgCluster::shared().create_database(&name))));
    } else {
        eprintln!("skipping PostgreSQL: not root and no PG_BINDIR");
    }
    out
}

fn run(
    f: &Fleet,
    ledger: &Option<String>,
    args: &[&str],
    crash_at: Option<&str>,
) -> (Output, Value) {
    let mut c = f.forge_cmd(args);
    if let Some(url) = ledger {
        c.arg("--ledger").arg(url);
    }
    if let Some(at) = crash_at {
        c.env("FORGE_CRASH_AT", at);
    }
    let out = c.output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn newest(f: &Fleet, ledger: &Option<String>) -> String {
    let (out, v) = run(f, ledger, &["release", "list"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    v[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn one_writer_per_service_and_environment_on_sqlite_and_postgres() {
    for (backend, ledger) in ledgers() {
        let f = Fleet::new();
        // A holder of lib/dev that dies (kill -9 at a step boundary) with a 4 s lease.
        let (out, _) = run(
            &f,
            &ledger,
            &[
                "orchestrate-release",
                "lib",
                "--env",
                "dev",
                "--lease-ttl",
                "4s",
            ],
            Some("lib/dev/image:after"),
        );
        assert!(
            stderr(&out).contains("FORGE_CRASH_AT"),
            "{backend}: {}",
            stderr(&out)
        );
        let holder = newest(&f, &ledger);

        // app + lib: refused at once, naming the holder and until when.
        let started = Instant::now();
        let (out, _) = run(
            &f,
            &ledger,
            &["orchestrate-release", "app", "lib", "--env", "dev"],
            None,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{backend}: {err}");
        assert!(
            err.contains(&holder) && err.contains("lib/dev") && err.contains("until"),
            "{backend}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{backend}: refused at once"
        );

        // What the refused run took (app/dev) was given back: app alone goes.
        let (out, v) = run(
            &f,
            &ledger,
            &["orchestrate-release", "app", "--env", "dev"],
            None,
        );
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert_eq!(v["state"], "succeeded");

        // --wait: a new run waits for the dead holder's lease to expire.
        let (out, v) = run(
            &f,
            &ledger,
            &[
                "orchestrate-release",
                "lib",
                "--env",
                "dev",
                "--wait",
                "20s",
            ],
            None,
        );
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert_eq!(v["state"], "succeeded", "{backend}: {v}");

        // The dead holder's own run, resumed: its leases are taken over, and
        // (the lease now epochs past it) nothing it held is written twice.
        let (out, v) = run(&f, &ledger, &["release", "resume", &holder], None);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert!(
            states(&v).iter().all(|(_, s)| s == "succeeded"),
            "{backend}: {v}"
        );
        assert_eq!(
            f.pins_of("lib"),
            1,
            "{backend}: one pin of lib across all runs"
        );
    }
}

#[test]
fn an_unreachable_postgres_ledger_is_a_clear_error_without_its_password() {
    let f = Fleet::new();
    let port = forge_testkit::free_port();
    let url = format!("postgres://forge:s3cret-pw@127.0.0.1:{port}/ledger?connect_timeout=2");
    let started = Instant::now();
    let (out, _) = run(
        &f,
        &Some(url),
        &["orchestrate-release", "app", "--env", "dev"],
        None,
    );
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("s3cret-pw"), "the password leaked: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(f.messages().len(), 1, "nothing was pinned");
}

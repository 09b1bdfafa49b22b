//! A server that stops answering ends the command with an error naming the
//! host and how long it waited, never a hang: while connecting (a listener
//! that never answers), and mid-session (a real server whose statement waits
//! on another session's lock).

use crate::silent_server::{run_within, SilentServer};
use crate::testenv::{expect_code, path_str, shared, spec_file, text};
use std::process::Command;
use std::time::Duration;

fn provision(args: &[&str], database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forge-provision"));
    cmd.args(args)
        .env_remove("PGPASSWORD")
        .env("DATABASE_URL", database_url);
    cmd
}

#[test]
fn unresponsive_connect_ends_within_the_wait_with_the_host_named() {
    let silent = SilentServer::start();
    let spec = spec_file("silent", "roles:\n  - name: silent_role\n");
    // prefer: the TLS request goes unanswered; disable: the startup message.
    for sslmode in ["prefer", "disable"] {
        let url = format!(
            "postgres://postgres:pw@127.0.0.1:{}/postgres?sslmode={sslmode}",
            silent.port
        );
        let args = [
            "postgres",
            "plan",
            "--wait",
            "5",
            "--config",
            path_str(&spec),
        ];
        let run = run_within(provision(&args, &url), Duration::from_secs(30));
        expect_code(&run.output, 1);
        let (_, stderr) = text(&run.output);
        assert!(
            stderr.contains(&format!("no answer from 127.0.0.1:{} for 5 s", silent.port)),
            "{sslmode}: {stderr}"
        );
        assert!(
            stderr.contains("did not accept a connection within"),
            "{sslmode}: {stderr}"
        );
        // The wait is used up, and bounds the whole attempt.
        let secs = run.elapsed.as_secs_f64();
        assert!(
            (4.5..15.0).contains(&secs),
            "{sslmode}: ended after {secs}s"
        );
    }
    assert!(silent.accepted() >= 2);
}

#[test]
fn unresponsive_connect_without_wait_still_ends() {
    let silent = SilentServer::start();
    let spec = spec_file("silent_nowait", "roles:\n  - name: silent_role\n");
    let url = format!(
        "postgres://postgres:pw@127.0.0.1:{}/postgres?sslmode=disable",
        silent.port
    );
    let args = [
        "postgres",
        "apply",
        "--wait",
        "0",
        "--config",
        path_str(&spec),
    ];
    let run = run_within(provision(&args, &url), Duration::from_secs(30));
    expect_code(&run.output, 1);
    let (_, stderr) = text(&run.output);
    assert!(
        stderr.contains(&format!("no answer from 127.0.0.1:{} for", silent.port)),
        "{stderr}"
    );
}

#[test]
fn unresponsive_catalog_read_ends_after_the_idle_timeout() {
    let pg = shared();
    pg.exec("postgres", "CREATE DATABASE idle_read_db");
    let spec = spec_file("idle_read", "databases:\n  - name: idle_read_db\n");
    // The publications read in that database waits for this lock.
    let _lock = pg.session(
        "idle_read_db",
        "BEGIN; LOCK TABLE pg_catalog.pg_publication IN ACCESS EXCLUSIVE MODE",
    );
    let args = [
        "postgres",
        "plan",
        "--idle-timeout",
        "3",
        "--config",
        path_str(&spec),
    ];
    let run = run_within(provision(&args, &pg.url()), Duration::from_secs(30));
    expect_code(&run.output, 1);
    let (_, stderr) = text(&run.output);
    assert!(
        stderr.contains(&format!(
            "reading publications in database \"idle_read_db\": no answer from 127.0.0.1:{} for 3 s",
            pg.port
        )),
        "{stderr}"
    );
    let secs = run.elapsed.as_secs_f64();
    assert!((2.5..20.0).contains(&secs), "ended after {secs}s");
}

#[test]
fn unresponsive_statement_ends_the_apply_after_the_idle_timeout() {
    let pg = shared();
    pg.exec("postgres", "CREATE DATABASE idle_apply_db");
    let spec = spec_file(
        "idle_apply",
        "databases:\n  - name: idle_apply_db\n    schemas:\n      - name: contested\n",
    );
    // An uncommitted CREATE SCHEMA of the same name: ours waits for it.
    let other = pg.session("idle_apply_db", "BEGIN; CREATE SCHEMA contested");
    let args = [
        "postgres",
        "apply",
        "--idle-timeout",
        "3",
        "--config",
        path_str(&spec),
    ];
    let run = run_within(provision(&args, &pg.url()), Duration::from_secs(30));
    expect_code(&run.output, 1);
    let (_, stderr) = text(&run.output);
    assert!(stderr.contains(r#"CREATE SCHEMA "contested";"#), "{stderr}");
    assert!(
        stderr.contains(&format!("no answer from 127.0.0.1:{} for 3 s", pg.port)),
        "{stderr}"
    );
    let secs = run.elapsed.as_secs_f64();
    assert!((2.5..20.0).contains(&secs), "ended after {secs}s");

    // Once the other session is gone, the next run finishes the job.
    drop(other);
    let out = crate::testenv::forge(pg, &["postgres", "apply", "--config", path_str(&spec)], &[]);
    expect_code(&out, 0);
    assert!(pg.is_true(
        "idle_apply_db",
        "SELECT count(*) = 1 FROM pg_namespace WHERE nspname = 'contested'"
    ));
}

#[test]
fn waiting_for_another_apply_longer_than_the_idle_timeout_is_not_a_silence() {
    let pg = shared();
    let spec = spec_file("idle_lock", "roles:\n  - name: idle_lock_role\n");
    // Another apply holds the lock for longer than the idle timeout.
    let other = pg.session(
        "postgres",
        "SELECT pg_advisory_lock(hashtextextended('forge-provision apply', 0))",
    );
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        drop(other);
    });
    let args = [
        "postgres",
        "apply",
        "--idle-timeout",
        "2",
        "--config",
        path_str(&spec),
    ];
    let run = run_within(provision(&args, &pg.url()), Duration::from_secs(30));
    release.join().unwrap();
    expect_code(&run.output, 0);
    let (_, stderr) = text(&run.output);
    assert!(
        stderr.contains("another forge-provision apply is running on this server"),
        "{stderr}"
    );
    assert!(run.elapsed >= Duration::from_secs(4), "{:?}", run.elapsed);
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'idle_lock_role'"
    ));
}

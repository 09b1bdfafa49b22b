//! Apply from empty, apply again (no changes), drift repair, and a server
//! that comes up late.

use crate::testenv::{dedicated, expect_code, forge, path_str, shared, sleep, spec_file, text};
use std::time::Instant;

fn app_spec(p: &str) -> String {
    format!(
        r#"
roles:
  - name: {p}_app
    login: true
    password_env: APP_PASSWORD
    connection_limit: 20
    member_of: [{p}_readers]
  - name: {p}_readers
databases:
  - name: {p}_db
    owner: {p}_app
    extensions: [pgcrypto, "uuid-ossp"]
    grants:
      - role: {p}_readers
        privileges: [CONNECT]
    schemas:
      - name: api
        owner: {p}_app
        grants:
          - role: {p}_readers
            privileges: [USAGE]
            tables: [SELECT]
            sequences: [USAGE]
            default: true
"#
    )
}

#[test]
fn apply_from_empty_then_again_changes_nothing() {
    let pg = shared();
    let spec = spec_file("apply_empty", &app_spec("ae"));
    let env = [("APP_PASSWORD", "first-pw")];
    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(r#"CREATE DATABASE "ae_db" OWNER "ae_app";"#),
        "{stdout}"
    );
    assert!(stdout.contains("-- applied"), "{stdout}");

    assert!(pg.can_login("ae_app", "first-pw", "ae_db"));
    assert!(pg.is_true(
        "ae_db",
        "SELECT count(*) = 2 FROM pg_extension WHERE extname IN ('pgcrypto', 'uuid-ossp')"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT rolconnlimit = 20 FROM pg_roles WHERE rolname = 'ae_app'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT pg_has_role('ae_app', 'ae_readers', 'MEMBER')"
    ));

    // Objects created later by the owner get the default privileges.
    pg.exec(
        "ae_db",
        "SET ROLE ae_app; CREATE TABLE api.t (id serial PRIMARY KEY)",
    );
    assert!(pg.is_true(
        "ae_db",
        "SELECT has_table_privilege('ae_readers', 'api.t', 'SELECT')"
    ));

    for action in ["plan", "apply"] {
        let out = forge(
            pg,
            &["postgres", action, "--config", path_str(&spec), "--check"],
            &env,
        );
        expect_code(&out, 0);
    }
    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(text(&out).0.contains("no changes"));
}

#[test]
fn drift_is_reported_by_check_and_repaired_by_apply() {
    let pg = shared();
    let spec = spec_file("drift", &app_spec("dr"));
    let env = [("APP_PASSWORD", "pw")];
    let run = |args: &[&str]| {
        let mut all = vec!["postgres"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", path_str(&spec)]);
        forge(pg, &all, &env)
    };
    expect_code(&run(&["apply"]), 0);
    pg.exec(
        "dr_db",
        "CREATE TABLE api.orders (id int); ALTER TABLE api.orders OWNER TO dr_app",
    );
    pg.exec("dr_db", "GRANT SELECT ON api.orders TO dr_readers");
    expect_code(&run(&["plan", "--check"]), 0);

    pg.exec(
        "dr_db",
        "REVOKE SELECT ON api.orders FROM dr_readers; REVOKE USAGE ON SCHEMA api FROM dr_readers",
    );
    pg.exec("postgres", "ALTER ROLE dr_app CONNECTION LIMIT 5");
    let out = run(&["plan", "--check"]);
    expect_code(&out, 4);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(r#"GRANT SELECT ON ALL TABLES IN SCHEMA "api" TO "dr_readers";"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"GRANT USAGE ON SCHEMA "api" TO "dr_readers";"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"ALTER ROLE "dr_app" WITH CONNECTION LIMIT 20;"#),
        "{stdout}"
    );
    assert!(!pg.is_true(
        "dr_db",
        "SELECT has_table_privilege('dr_readers', 'api.orders', 'SELECT')"
    ));

    expect_code(&run(&["apply"]), 0);
    assert!(pg.is_true(
        "dr_db",
        "SELECT has_table_privilege('dr_readers', 'api.orders', 'SELECT')"
    ));
    expect_code(&run(&["plan", "--check"]), 0);
}

#[test]
fn server_that_comes_up_late_is_waited_for_within_the_bound() {
    let pg = dedicated("logical");
    let spec = spec_file("late", "roles:\n  - name: late_role\n");
    let started = Instant::now();
    let url = pg.url();
    // The server is started by a thread a few seconds after the apply began.
    let handle = std::thread::spawn(move || {
        sleep(3);
        pg.start();
        pg
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args([
            "postgres",
            "apply",
            "--wait",
            "60",
            "--config",
            path_str(&spec),
        ])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    let pg = handle.join().unwrap();
    expect_code(&out, 0);
    assert!(started.elapsed().as_secs() >= 3);
    assert!(
        text(&out).1.contains("waiting for PostgreSQL"),
        "{}",
        text(&out).1
    );
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'late_role'"
    ));
}

#[test]
fn wait_bound_gives_up_with_a_clear_error() {
    let pg = dedicated("logical"); // initialized, never started
    let spec = spec_file("never", "roles:\n  - name: never_role\n");
    let started = Instant::now();
    let out = forge(
        &pg,
        &[
            "postgres",
            "plan",
            "--wait",
            "2",
            "--config",
            path_str(&spec),
        ],
        &[],
    );
    expect_code(&out, 1);
    let elapsed = started.elapsed().as_secs_f64();
    assert!((1.0..10.0).contains(&elapsed), "gave up after {elapsed}s");
    assert!(
        text(&out).1.contains("did not accept a connection within"),
        "{}",
        text(&out).1
    );
}

#[test]
fn concurrent_applies_take_turns_and_both_succeed() {
    let pg = shared();
    let spec = spec_file("concurrent", &app_spec("cc"));
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
            .args(["postgres", "apply", "--config", path_str(&spec)])
            .env("DATABASE_URL", pg.url())
            .env("APP_PASSWORD", "pw")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        expect_code(&child.wait_with_output().unwrap(), 0);
    }
    let out = forge(
        pg,
        &["postgres", "plan", "--check", "--config", path_str(&spec)],
        &[("APP_PASSWORD", "pw")],
    );
    expect_code(&out, 0);
}

//! A connection the server refuses says why, with the server's SQLSTATE and
//! message, and never shows the password.

use crate::testenv::{expect_code, path_str, shared, spec_file, text, SUPERUSER_PASSWORD};
use std::process::{Command, Output};

fn plan_with(database_url: &str, name: &str) -> Output {
    let spec = spec_file(name, "roles: []\n");
    Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["postgres", "plan", "--config", path_str(&spec)])
        .env_remove("PGPASSWORD")
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

#[test]
fn wrong_password_gives_the_servers_reason_without_the_password() {
    let pg = shared();
    let wrong = "not-the-pw-7f3a";
    let out = plan_with(&pg.url_as("postgres", wrong, "postgres"), "conn_wrong_pw");
    expect_code(&out, 1);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "cannot connect to PostgreSQL at postgres@127.0.0.1:{}/postgres: FATAL 28P01: password authentication failed for user \"postgres\"",
            pg.port
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(wrong) && !stdout.contains(wrong),
        "{stderr}"
    );
}

#[test]
fn missing_database_gives_the_servers_reason() {
    let pg = shared();
    let out = plan_with(
        &pg.url_as("postgres", SUPERUSER_PASSWORD, "no_such_db_here"),
        "conn_missing_db",
    );
    expect_code(&out, 1);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("FATAL 3D000: database \"no_such_db_here\" does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains(SUPERUSER_PASSWORD), "{stderr}");
}

#[test]
fn a_server_message_that_quotes_the_password_is_redacted() {
    let pg = shared();
    // The server echoes the database name, which here holds the password.
    let database = format!("db-{SUPERUSER_PASSWORD}");
    let out = plan_with(
        &pg.url_as("postgres", SUPERUSER_PASSWORD, &database),
        "conn_echo",
    );
    expect_code(&out, 1);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("FATAL 3D000: database \"db-<redacted>\" does not exist"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SUPERUSER_PASSWORD) && !stdout.contains(SUPERUSER_PASSWORD),
        "{stderr}"
    );
}

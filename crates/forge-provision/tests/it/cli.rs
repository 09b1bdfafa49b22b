//! Exit codes and messages of the command line itself.

use crate::testenv::{expect_code, forge, path_str, shared, spec_file, text};

#[test]
fn unknown_key_names_file_line_column_and_suggests() {
    let pg = shared();
    let spec = spec_file(
        "typo",
        "roles:\n  - name: typo_role\n    conection_limit: 3\n",
    );
    let out = forge(pg, &["postgres", "plan", "--config", path_str(&spec)], &[]);
    expect_code(&out, 2);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "{}:3:5: roles[0]: unknown field `conection_limit`",
            path_str(&spec)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `connection_limit`?"),
        "{stderr}"
    );
}

#[test]
fn a_name_declared_twice_names_the_second_declaration() {
    let pg = shared();
    let spec = spec_file(
        "twice",
        "roles:\n  - name: twice_role\n  - name: other_role\n  - name: twice_role\n",
    );
    let out = forge(pg, &["postgres", "plan", "--config", path_str(&spec)], &[]);
    expect_code(&out, 2);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "{}:4:5: role `twice_role` is declared twice",
            path_str(&spec)
        )),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2_as_in_the_shared_table() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["postgres", "plan"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .arg("--help")
        .output()
        .unwrap();
    expect_code(&help, 0);
    assert!(text(&help).0.contains("postgres"));
    for line in forge_core::exit_status::TABLE.lines() {
        assert!(text(&help).0.contains(line), "--help lacks {line:?}");
    }
}

#[test]
fn attic_missing_config_file_is_an_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["attic", "plan", "--config", "/nonexistent/attic.yaml"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(text(&out).1.contains("cannot read /nonexistent/attic.yaml"));
}

#[test]
fn no_connection_settings_is_an_error() {
    let spec = spec_file("noconn", "roles: []\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["postgres", "plan", "--config", path_str(&spec)])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(
        text(&out).1.contains("set DATABASE_URL"),
        "{}",
        text(&out).1
    );
}

#[test]
fn connection_block_is_used_instead_of_database_url() {
    let pg = shared();
    let yaml = format!(
        "connection:\n  host: 127.0.0.1\n  port: {}\n  user: postgres\n  database: postgres\n  sslmode: disable\n  password_env: SU_PW\nroles:\n  - name: conn_role\n",
        pg.port
    );
    let spec = spec_file("conn", &yaml);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["postgres", "apply", "--config", path_str(&spec)])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nowhere")
        .env("SU_PW", crate::testenv::SUPERUSER_PASSWORD)
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'conn_role'"
    ));
}

/// Connections without a URL as psql makes them: PGHOST, PGPORT, PGUSER,
/// PGDATABASE, PGSSLMODE and PGPASSWORD, below what the spec and the URL set.
#[test]
fn libpq_variables_are_honoured_like_psql() {
    let pg = shared();
    let spec = spec_file("libpq", "roles:\n  - name: libpq_role\n");
    let run = |vars: &[(&str, String)], url: Option<String>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_forge-provision"));
        c.args([
            "postgres",
            "apply",
            "--wait",
            "2",
            "--config",
            path_str(&spec),
        ]);
        for v in [
            "DATABASE_URL",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGSSLMODE",
            "PGPASSWORD",
        ] {
            c.env_remove(v);
        }
        if let Some(u) = url {
            c.env("DATABASE_URL", u);
        }
        c.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        c.output().unwrap()
    };
    let vars = vec![
        ("PGHOST", "127.0.0.1".to_owned()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_owned()),
        ("PGDATABASE", "postgres".to_owned()),
        ("PGSSLMODE", "disable".to_owned()),
        ("PGPASSWORD", crate::testenv::SUPERUSER_PASSWORD.to_owned()),
    ];
    let out = run(&vars, None);
    expect_code(&out, 0);
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'libpq_role'"
    ));

    // The URL wins over PGPORT: a URL to a closed port fails even though
    // PGPORT is right, and says where it tried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(
        &vars,
        Some(format!(
            "postgres://postgres@127.0.0.1:{closed}/postgres?sslmode=disable"
        )),
    );
    expect_code(&out, 1);
    assert!(
        text(&out).1.contains(&format!("127.0.0.1:{closed}")),
        "{}",
        text(&out).1
    );

    // A bad variable is a usage error naming it.
    let mut bad = vars.clone();
    bad[1].1 = "not-a-port".into();
    let out = run(&bad, None);
    expect_code(&out, 2);
    assert!(
        text(&out).1.contains("PGPORT=\"not-a-port\""),
        "{}",
        text(&out).1
    );
}

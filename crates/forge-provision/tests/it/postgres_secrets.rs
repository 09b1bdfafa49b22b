//! Passwords: rotation, `*_file`, never printed, and a missing secret that
//! stops everything before any change.

use crate::testenv::{expect_code, forge, path_str, shared, spec_file, text};

#[test]
fn password_rotation_changes_only_when_the_verifier_no_longer_matches() {
    let pg = shared();
    let spec = spec_file(
        "rotate",
        "roles:\n  - name: rot_app\n    login: true\n    password_env: ROT_PASSWORD\n",
    );
    let apply = |pw: &str, extra: &[&str]| {
        let mut args = vec!["postgres", "apply", "--config", path_str(&spec)];
        args.extend_from_slice(extra);
        forge(pg, &args, &[("ROT_PASSWORD", pw)])
    };
    expect_code(&apply("old-secret-1", &[]), 0);
    assert!(pg.can_login("rot_app", "old-secret-1", "postgres"));
    let stored = pg.column(
        "postgres",
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'rot_app'",
    );
    assert!(stored[0]
        .as_deref()
        .unwrap()
        .starts_with("SCRAM-SHA-256$4096:"));

    // Same password: nothing to do, the verifier is left alone.
    let out = apply("old-secret-1", &["--check"]);
    expect_code(&out, 0);
    assert_eq!(
        stored,
        pg.column(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'rot_app'"
        )
    );

    let out = apply("new-secret-2", &["--check"]);
    expect_code(&out, 4);
    let out = apply("new-secret-2", &[]);
    expect_code(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains(r#"ALTER ROLE "rot_app" PASSWORD '<redacted>';"#),
        "{stdout}"
    );
    for secret in ["new-secret-2", "old-secret-1", "SCRAM-SHA-256"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stdout}\n{stderr}"
        );
    }
    assert!(pg.can_login("rot_app", "new-secret-2", "postgres"));
    assert!(!pg.can_login("rot_app", "old-secret-1", "postgres"));

    // A password set by hand (e.g. md5 or someone else's) is replaced.
    pg.exec("postgres", "ALTER ROLE rot_app PASSWORD 'changed-by-hand'");
    let out = apply("new-secret-2", &["--json"]);
    expect_code(&out, 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"], 1);
    assert_eq!(json["applied"], true);
    assert_eq!(json["schema"], "forge.provision-postgres/v1");
    assert!(!text(&out).0.contains("new-secret-2"));
    assert!(pg.can_login("rot_app", "new-secret-2", "postgres"));
}

#[test]
fn password_file_and_env_references_supply_secrets() {
    let pg = shared();
    let spec = spec_file(
        "secret_file",
        "roles:\n  - name: file_app\n    login: true\n    password_file: app.secret\n  - name: ref_app\n    login: true\n    password: \"${REF_PW}-suffix\"\n",
    );
    std::fs::write(spec.parent().unwrap().join("app.secret"), "from-a-file\n").unwrap();
    expect_code(
        &forge(
            pg,
            &["postgres", "apply", "--config", path_str(&spec)],
            &[("REF_PW", "env")],
        ),
        0,
    );
    assert!(pg.can_login("file_app", "from-a-file", "postgres"));
    assert!(pg.can_login("ref_app", "env-suffix", "postgres"));
}

#[test]
fn missing_secret_fails_before_anything_changes() {
    let pg = shared();
    let spec = spec_file(
        "missing",
        "roles:\n  - name: ms_first\n  - name: ms_second\n    login: true\n    password_env: MS_UNSET_PASSWORD\ndatabases:\n  - name: ms_db\n",
    );
    let out = forge(pg, &["postgres", "apply", "--config", path_str(&spec)], &[]);
    expect_code(&out, 2);
    let (_, stderr) = text(&out);
    let at = format!("{}:5:19:", path_str(&spec));
    assert!(stderr.contains(&at), "{stderr}");
    assert!(
        stderr.contains("environment variable MS_UNSET_PASSWORD is not set"),
        "{stderr}"
    );
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_roles WHERE rolname LIKE 'ms\\_%'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_database WHERE datname = 'ms_db'"
    ));
}

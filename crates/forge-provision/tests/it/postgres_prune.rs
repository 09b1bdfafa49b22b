//! Pruning happens only with `prune:` in the spec and `--allow-prune`. It
//! runs on a dedicated cluster because dropping roles is cluster-wide.

use crate::testenv::{dedicated, expect_code, forge, path_str, spec_file, text};

const BASE: &str = r#"
roles:
  - name: keep_app
  - name: keep_reader
databases:
  - name: prune_db
    owner: keep_app
    schemas:
      - name: kept
        owner: keep_app
        grants:
          - role: keep_reader
            privileges: [USAGE]
            tables: [SELECT]
"#;

#[test]
fn prune_needs_both_the_spec_and_the_flag() {
    let pg = dedicated("logical");
    pg.start();
    let without = spec_file("prune_off", BASE);
    let with = spec_file(
        "prune_on",
        &format!("prune: {{roles: true, grants: true, schemas: true, databases: true}}\n{BASE}"),
    );
    expect_code(
        &forge(
            &pg,
            &["postgres", "apply", "--config", path_str(&without)],
            &[],
        ),
        0,
    );
    pg.exec("postgres", "CREATE ROLE stray_role");
    pg.exec("postgres", "CREATE DATABASE stray_db");
    pg.exec("prune_db", "CREATE SCHEMA stray_schema; CREATE TABLE kept.t (id int); ALTER TABLE kept.t OWNER TO keep_app");
    pg.exec(
        "prune_db",
        "GRANT SELECT, INSERT ON kept.t TO keep_reader; GRANT CREATE ON SCHEMA kept TO keep_reader",
    );
    let strays_left = || {
        pg.is_true(
            "postgres",
            "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'stray_role'",
        ) && pg.is_true(
            "postgres",
            "SELECT count(*) = 1 FROM pg_database WHERE datname = 'stray_db'",
        ) && pg.is_true(
            "prune_db",
            "SELECT count(*) = 1 FROM pg_namespace WHERE nspname = 'stray_schema'",
        ) && pg.is_true(
            "prune_db",
            "SELECT has_table_privilege('keep_reader', 'kept.t', 'INSERT')",
        )
    };

    // The flag without prune: in the spec, and prune: without the flag, drop nothing.
    expect_code(
        &forge(
            &pg,
            &[
                "postgres",
                "apply",
                "--allow-prune",
                "--config",
                path_str(&without),
            ],
            &[],
        ),
        0,
    );
    let out = forge(
        &pg,
        &["postgres", "apply", "--config", path_str(&with)],
        &[],
    );
    expect_code(&out, 0);
    assert!(
        text(&out).1.contains("without --allow-prune"),
        "{}",
        text(&out).1
    );
    assert!(strays_left());

    let out = forge(
        &pg,
        &[
            "postgres",
            "plan",
            "--check",
            "--allow-prune",
            "--config",
            path_str(&with),
        ],
        &[],
    );
    expect_code(&out, 4);
    let (stdout, _) = text(&out);
    for want in [
        r#"DROP ROLE "stray_role";"#,
        r#"DROP DATABASE "stray_db";"#,
        r#"DROP SCHEMA "stray_schema";"#,
        r#"REVOKE INSERT ON ALL TABLES IN SCHEMA "kept" FROM "keep_reader";"#,
        r#"REVOKE CREATE ON SCHEMA "kept" FROM "keep_reader";"#,
    ] {
        assert!(stdout.contains(want), "missing {want} in:\n{stdout}");
    }
    assert!(!stdout.contains(r#"DROP ROLE "postgres""#));
    expect_code(
        &forge(
            &pg,
            &[
                "postgres",
                "apply",
                "--allow-prune",
                "--config",
                path_str(&with),
            ],
            &[],
        ),
        0,
    );
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_roles WHERE rolname = 'stray_role'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_database WHERE datname = 'stray_db'"
    ));
    assert!(pg.is_true(
        "prune_db",
        "SELECT has_table_privilege('keep_reader', 'kept.t', 'SELECT')"
    ));
    assert!(!pg.is_true(
        "prune_db",
        "SELECT has_table_privilege('keep_reader', 'kept.t', 'INSERT')"
    ));
    expect_code(
        &forge(
            &pg,
            &[
                "postgres",
                "plan",
                "--check",
                "--allow-prune",
                "--config",
                path_str(&with),
            ],
            &[],
        ),
        0,
    );
}

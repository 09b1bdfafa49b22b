//! An extension the server does not have is a planning problem (at the
//! spec's file:line:column), found by `plan`, and `apply` changes nothing.

use crate::testenv::{expect_code, forge, path_str, shared, spec_file, text};

#[test]
fn unavailable_extension_is_a_plan_problem_at_its_location() {
    let pg = shared();
    pg.exec("postgres", "CREATE DATABASE ext_have_db");
    let spec = spec_file(
        "ext_missing",
        "databases:\n  - name: ext_have_db\n    extensions: [pgcrypto, no_such_ext_here]\n  - name: ext_new_db\n    extensions:\n      - not_installed_either\n",
    );
    for action in ["plan", "apply"] {
        let out = forge(pg, &["postgres", action, "--config", path_str(&spec)], &[]);
        expect_code(&out, 1);
        let (stdout, stderr) = text(&out);
        let file = path_str(&spec);
        assert!(
            stderr.contains(&format!(
                "{file}:3:28: extension `no_such_ext_here` (database `ext_have_db`) is not available on the server"
            )),
            "{action}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "{file}:6:7: extension `not_installed_either` (database `ext_new_db`) is not available on the server"
            )),
            "{action}: {stderr}"
        );
        assert!(!stdout.contains("CREATE"), "{action}: {stdout}");
    }
    // Nothing was changed, not even what was available.
    assert!(pg.is_true(
        "ext_have_db",
        "SELECT count(*) = 0 FROM pg_extension WHERE extname = 'pgcrypto'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_database WHERE datname = 'ext_new_db'"
    ));
}

//! Pruning roles that own objects or hold privileges: the plan reports them
//! before any change, and `prune.reassign_owned_to` hands their objects over
//! (`REASSIGN OWNED` + `DROP OWNED` in each database) before `DROP ROLE`.
//! On a dedicated cluster because dropping roles is cluster-wide.

use crate::testenv::{dedicated, expect_code, forge, path_str, spec_file, text, Cluster};

const BASE: &str = r#"
roles:
  - name: po_app
databases:
  - name: po_db
    owner: po_app
  - name: po_kept
"#;

fn spec(prune: &str) -> String {
    format!("prune: {prune}\n{BASE}")
}

fn run(pg: &Cluster, args: &[&str], spec: &std::path::Path) -> std::process::Output {
    let mut all = vec!["postgres"];
    all.extend_from_slice(args);
    all.extend(["--config", path_str(spec)]);
    forge(pg, &all, &[])
}

/// `po_stray` owns a table, holds a grant and default privileges in `po_db`
/// and CONNECT on it; `po_dbowner` owns the kept database `po_kept`.
fn add_strays(pg: &Cluster) {
    pg.exec(
        "postgres",
        "CREATE ROLE po_stray; CREATE ROLE po_dbowner; ALTER DATABASE po_kept OWNER TO po_dbowner; \
         GRANT CONNECT ON DATABASE po_db TO po_stray",
    );
    pg.exec(
        "po_db",
        "CREATE TABLE public.stray_t (id int); ALTER TABLE public.stray_t OWNER TO po_stray; \
         CREATE TABLE public.app_t (id int); ALTER TABLE public.app_t OWNER TO po_app; \
         GRANT SELECT ON public.app_t TO po_stray; \
         ALTER DEFAULT PRIVILEGES FOR ROLE po_app IN SCHEMA public GRANT SELECT ON TABLES TO po_stray",
    );
}

fn role_exists(pg: &Cluster, role: &str) -> bool {
    pg.is_true(
        "postgres",
        &format!("SELECT count(*) = 1 FROM pg_roles WHERE rolname = '{role}'"),
    )
}

#[test]
fn roles_that_own_or_hold_something_are_reported_then_reassigned() {
    let pg = dedicated("replica");
    pg.start();
    let plain = spec_file("prune_owned_plain", &spec("{roles: true}"));
    expect_code(&run(&pg, &["apply"], &plain), 0);
    add_strays(&pg);

    // Planned, not discovered at apply time: both roles, with what they own and where.
    for action in ["plan", "apply"] {
        let out = run(&pg, &[action, "--allow-prune"], &plain);
        expect_code(&out, 1);
        let (stdout, stderr) = text(&out);
        assert!(!stdout.contains("DROP ROLE"), "{stdout}");
        for want in [
            "prune_owned_plain/spec.yaml:1:9: role `po_dbowner` cannot be dropped: it owns database `po_kept`.",
            "role `po_stray` cannot be dropped: in database `po_db` it owns 1 table, view or sequence, \
             has privileges on 1 table, view or sequence, is a grantee of default privileges (1 entry); \
             on shared objects it has privileges on database `po_db`.",
            "Set prune.reassign_owned_to",
        ] {
            assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
        }
    }
    assert!(role_exists(&pg, "po_stray") && role_exists(&pg, "po_dbowner"));
    assert!(pg.is_true(
        "po_db",
        "SELECT tableowner = 'po_stray' FROM pg_tables WHERE tablename = 'stray_t'"
    ));

    let reassign = spec_file(
        "prune_owned_reassign",
        &spec("{roles: true, reassign_owned_to: po_app}"),
    );
    let out = run(&pg, &["plan", "--check", "--allow-prune"], &reassign);
    expect_code(&out, 4);
    let (stdout, _) = text(&out);
    for want in [
        "-- database \"po_db\", one transaction\nREASSIGN OWNED BY \"po_stray\" TO \"po_app\";\nDROP OWNED BY \"po_stray\";\n",
        "-- cluster (connected database), one transaction\nREASSIGN OWNED BY \"po_dbowner\" TO \"po_app\";\n\
         DROP OWNED BY \"po_dbowner\";\nDROP ROLE \"po_dbowner\";\nDROP ROLE \"po_stray\";\n",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }

    expect_code(&run(&pg, &["apply", "--allow-prune"], &reassign), 0);
    assert!(!role_exists(&pg, "po_stray") && !role_exists(&pg, "po_dbowner"));
    assert!(pg.is_true(
        "po_db",
        "SELECT tableowner = 'po_app' FROM pg_tables WHERE tablename = 'stray_t'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT pg_get_userbyid(datdba) = 'po_app' FROM pg_database WHERE datname = 'po_kept'"
    ));
    assert!(pg.is_true("po_db", "SELECT count(*) = 0 FROM pg_default_acl"));
    let out = run(&pg, &["plan", "--check", "--allow-prune"], &reassign);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("no changes"), "{}", text(&out).0);
}

//! Tests of `spec_parse`.

use super::*;
use crate::domain::secret_ref::tests::MapSource;

fn source() -> Arc<dyn SecretSource> {
    let mut s = MapSource::default();
    s.vars.insert("APP_PASSWORD".into(), "pw".into());
    Arc::new(s)
}

#[test]
fn unknown_key_has_location_and_suggestion() {
    let text = "roles:\n  - name: app\n    logn: true\n";
    let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
    assert!(
        err.starts_with("pg.yaml:3:5: roles[0]: unknown field `logn`"),
        "{err}"
    );
    assert!(err.ends_with("help: did you mean `login`?"), "{err}");
}

#[test]
fn unknown_privilege_is_suggested() {
    let text = "databases:\n  - name: a\n    schemas:\n      - name: s\n        grants:\n          - role: r\n            tables: [SELECT, insert]\n";
    let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
    assert!(err.starts_with("pg.yaml:7:"), "{err}");
    assert!(err.contains("did you mean `INSERT`?"), "{err}");
}

#[test]
fn missing_secret_names_the_place() {
    let text = "roles:\n  - name: app\n    password_env: NOT_SET_ANYWHERE\n";
    let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
    assert!(err.starts_with("pg.yaml:3:19:"), "{err}");
    assert!(
        err.contains("environment variable NOT_SET_ANYWHERE is not set"),
        "{err}"
    );
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../../../examples/provision/postgres.yaml");
    let mut s = MapSource::default();
    s.vars.insert("APP_PASSWORD".into(), "a".into());
    s.vars.insert("CDC_PASSWORD".into(), "c".into());
    let (_, d) = parse(text, "postgres.yaml", Arc::new(s)).unwrap();
    assert_eq!(d.roles.len(), 3);
    assert_eq!(d.cdc.len(), 1);
}

#[test]
fn secrets_never_appear_in_errors() {
    for text in [
        "roles:\n  - {name: a, password: 8675309}\n",
        "roles:\n  - {name: a, password: \"${APP_PASSWORD}\", bogus: 1}\n",
    ] {
        let err = parse(text, "f.yaml", source()).unwrap_err().to_string();
        assert!(!err.contains("8675309") && !err.contains("pw"), "{err}");
    }
}

#[test]
fn cdc_role_is_merged_with_login_and_replication() {
    let text = "roles:\n  - name: cdc\ncdc:\n  - {database: app, role: cdc, password_env: APP_PASSWORD, publication: p, tables: all, slot: s}\n";
    let (_, d) = parse(text, "pg.yaml", source()).unwrap();
    let r = d.role("cdc").unwrap();
    assert_eq!(
        (r.attrs.login, r.attrs.replication),
        (Some(true), Some(true))
    );
    assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
}

fn err(text: &str) -> String {
    parse(text, "pg.yaml", source()).unwrap_err().to_string()
}

#[test]
fn a_duplicate_role_points_at_the_second_declaration() {
    let text = "roles:\n  - name: a\n  - name: b\n  # again\n  - login: true\n    name: a\n";
    assert_eq!(err(text), "pg.yaml:6:5: role `a` is declared twice");
}

#[test]
fn cross_entry_errors_point_at_the_entry_or_field() {
    for (text, want) in [
        (
            "databases:\n  - name: d\n  - {name: d}\n",
            "pg.yaml:3:6: database `d` is declared twice",
        ),
        (
            "databases:\n  - name: d\n    schemas:\n      - name: s\n      - name: t\n      - name: s\n",
            "pg.yaml:6:9: database `d`: schema `s` is declared twice",
        ),
        (
            "roles:\n  - name: a\n    member_of: [b, a]\n",
            "pg.yaml:3:20: roles[0] `a`: a role cannot be a member of itself",
        ),
        (
            "roles:\n  - name: a\n    connection_limit: -5\n",
            "pg.yaml:3:5: roles[0] `a`: connection_limit -5 is below -1",
        ),
        (
            "roles:\n  - name: a\n    password_env: APP_PASSWORD\n    password: \"${APP_PASSWORD}\"\n",
            "pg.yaml:3:5: roles[0] `a`: give only one of password, password_env, password_file",
        ),
        (
            "connection:\n  host: h\n  password: \"${APP_PASSWORD}\"\n  password_env: APP_PASSWORD\n",
            "pg.yaml:4:3: connection: give only one of password, password_env, password_file",
        ),
        (
            "roles:\n  - name: c\n    replication: false\ncdc:\n  - {database: d, role: c, publication: p, tables: all, slot: s}\n",
            "pg.yaml:3:5: cdc[0] (slot `s`): role `c` is the CDC role but sets replication: false",
        ),
        (
            "roles:\n  - {name: c, password_env: APP_PASSWORD}\ncdc:\n  - database: d\n    role: c\n    password_env: APP_PASSWORD\n    publication: p\n    tables: all\n    slot: s\n",
            "pg.yaml:6:5: cdc[0] (slot `s`): role `c` has a password in roles: and in cdc:",
        ),
        (
            "cdc:\n  - {database: d, role: r, publication: p, tables: all, slot: s1}\n  - {database: d, role: r, publication: p, tables: all, slot: s2}\n",
            "pg.yaml:3:28: publication `p` in database `d` is declared twice",
        ),
        (
            "cdc:\n  - {database: d, role: r, publication: p, tables: all, slot: s1}\n  - {database: e, role: r, publication: q, tables: all, slot: s1}\n",
            "pg.yaml:3:57: replication slot `s1` is declared twice",
        ),
    ] {
        assert_eq!(err(text), want, "{text}");
    }
}

#[test]
fn contradictions_are_errors() {
    for (text, want) in [
        (
            "roles:\n  - {name: a, password: hunter2}\n",
            "plain passwords do not belong",
        ),
        (
            "roles:\n  - {name: a, password: 8675309}\n",
            "plain passwords do not belong",
        ),
        (
            "roles:\n  - name: a\n  - name: a\n",
            "role `a` is declared twice",
        ),
        (
            "roles:\n  - {name: a, password: \"${APP_PASSWORD}\", password_env: APP_PASSWORD}\n",
            "only one of",
        ),
        (
            "roles:\n  - {name: a, member_of: [a]}\n",
            "member of itself",
        ),
        ("roles:\n  - name: \"\"\n", "the name is empty"),
        (
            "cdc:\n  - {database: d, role: r, publication: p, tables: all, slot: Bad}\n",
            "invalid slot name",
        ),
    ] {
        let err = parse(text, "f.yaml", source()).unwrap_err().to_string();
        assert!(err.contains(want), "{text} -> {err}");
    }
}

#[test]
fn reassign_owned_to_needs_prune_roles() {
    let e = err("prune:\n  grants: true\n  reassign_owned_to: app\nroles:\n  - name: app\n");
    assert_eq!(
        e,
        "pg.yaml:3:3: prune: reassign_owned_to `app` needs roles: true (it only applies to roles being dropped)"
    );
    let text = "prune: {roles: true, reassign_owned_to: app}\nroles:\n  - name: app\n";
    let (_, d) = parse(text, "pg.yaml", source()).unwrap();
    assert_eq!(d.prune.reassign_owned_to.unwrap().0, "app");
}

//! Planner tests: spec text + hand-built catalog state -> plan text (insta snapshots).

use super::*;
use crate::domain::catalog::{DatabaseState, RelationKind, RelationState, SchemaState, SlotState};
use crate::domain::secret_ref::tests::MapSource;
use crate::domain::spec_parse::parse;
use forge_core::secret::Secret;
use std::sync::Arc;

const ISSUE_EXAMPLE: &str = r#"
roles:
  - name: app
    login: true
    password_env: APP_PASSWORD
    connection_limit: 20
    member_of: [readers]
  - name: readers
databases:
  - name: app
    owner: app
    extensions: [pgcrypto, "uuid-ossp"]
    schemas:
      - name: api
        owner: app
        grants:
          - role: readers
            privileges: [USAGE]
            tables: [SELECT]
            sequences: [USAGE]
            default: true
cdc:
  - database: app
    role: cdc_replication
    password_env: CDC_PASSWORD
    publication: app_pub
    tables: all
    slot: app_slot
"#;

pub(crate) fn desired(yaml: &str) -> Desired {
    let mut src = MapSource::default();
    src.vars.insert("APP_PASSWORD".into(), "app-pw".into());
    src.vars.insert("CDC_PASSWORD".into(), "cdc-pw".into());
    parse(yaml, "spec.yaml", Arc::new(src)).unwrap().1
}

pub(crate) fn empty_cluster() -> ClusterState {
    let mut s = ClusterState {
        current_user: "postgres".into(),
        current_database: "postgres".into(),
        wal_level: "logical".into(),
        ..ClusterState::default()
    };
    s.roles.insert(
        "postgres".into(),
        RoleState {
            superuser: true,
            login: true,
            ..RoleState::default()
        },
    );
    s.databases.insert(
        "postgres".into(),
        DatabaseState {
            owner: "postgres".into(),
            ..DatabaseState::default()
        },
    );
    s.available_extensions.extend([
        "pgcrypto".to_owned(),
        "uuid-ossp".to_owned(),
        "plpgsql".to_owned(),
    ]);
    s
}

pub(crate) fn run(d: &Desired, s: &ClusterState, allow_prune: bool) -> Result<Plan, PlanError> {
    let mut salt = || [7u8; scram::SALT_LEN];
    plan(
        d,
        s,
        PlanOptions {
            allow_prune,
            salt: &mut salt,
        },
    )
}

pub(crate) fn role(login: bool, password: Option<&str>) -> RoleState {
    RoleState {
        login,
        inherit: true,
        connection_limit: -1,
        password: password.map(|p| Secret::new(scram::verifier(p, b"saltsaltsaltsalt", 4096))),
        ..RoleState::default()
    }
}

#[test]
fn issue_example_from_an_empty_cluster() {
    let plan = run(&desired(ISSUE_EXAMPLE), &empty_cluster(), false).unwrap();
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn only_what_differs_is_changed() {
    let d = desired(ISSUE_EXAMPLE);
    let mut s = empty_cluster();
    // app: right password, wrong connection limit; readers fine; cdc role has an old password.
    s.roles.insert(
        "app".into(),
        RoleState {
            connection_limit: 5,
            ..role(true, Some("app-pw"))
        },
    );
    s.roles.insert("readers".into(), role(false, None));
    s.roles.insert(
        "cdc_replication".into(),
        RoleState {
            replication: true,
            ..role(true, Some("old"))
        },
    );
    s.memberships.insert(("readers".into(), "app".into()));
    s.databases.insert(
        "app".into(),
        DatabaseState {
            owner: "app".into(),
            ..DatabaseState::default()
        },
    );
    let mut db = DatabaseCatalog::default();
    db.extensions.extend([
        "plpgsql".to_owned(),
        "pgcrypto".to_owned(),
        "uuid-ossp".to_owned(),
    ]);
    let usage = (Some("readers".to_owned()), "USAGE".to_owned());
    db.schemas.insert(
        "api".into(),
        SchemaState {
            owner: "app".into(),
            acl: vec![usage],
        },
    );
    db.relations.push(RelationState {
        schema: "api".into(),
        name: "orders".into(),
        kind: RelationKind::Table,
        owner: "app".into(),
        acl: vec![],
    });
    for (kind, p) in [
        (RelationKind::Table, "SELECT"),
        (RelationKind::Sequence, "USAGE"),
    ] {
        db.default_acl
            .push(crate::domain::catalog::DefaultAclEntry {
                role: "app".into(),
                schema: "api".into(),
                kind,
                grantee: Some("readers".into()),
                privilege: p.into(),
            });
    }
    db.publications.insert(
        "app_pub".into(),
        crate::domain::catalog::PublicationState {
            all_tables: true,
            tables: Default::default(),
        },
    );
    s.in_database.insert("app".into(), db);
    s.slots.insert(
        "app_slot".into(),
        SlotState {
            plugin: Some("pgoutput".into()),
            database: Some("app".into()),
            logical: true,
            active: true,
        },
    );
    let plan = run(&d, &s, false).unwrap();
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn pruning_needs_the_spec_and_the_flag() {
    let yaml = "prune: {roles: true, memberships: true, databases: true}\nroles:\n  - name: app\n";
    let mut s = empty_cluster();
    s.roles.insert("app".into(), role(false, None));
    s.roles.insert("stray".into(), role(false, None));
    s.roles.insert("pg_monitor".into(), role(false, None));
    s.roles.insert(
        "other_admin".into(),
        RoleState {
            superuser: true,
            ..role(true, None)
        },
    );
    s.memberships.insert(("stray".into(), "app".into()));
    s.databases.insert(
        "old".into(),
        DatabaseState {
            owner: "stray".into(),
            ..DatabaseState::default()
        },
    );
    s.databases.insert(
        "template1".into(),
        DatabaseState {
            template: true,
            ..DatabaseState::default()
        },
    );
    assert!(run(&desired(yaml), &s, false).unwrap().is_empty());
    assert!(run(&desired("roles:\n  - name: app\n"), &s, true)
        .unwrap()
        .is_empty());
    let plan = run(&desired(yaml), &s, true).unwrap();
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn problems_are_reported_together_before_any_change() {
    let yaml = "roles:\n  - {name: a, member_of: [ghost]}\ndatabases:\n  - {name: d, owner: nobody, extensions: [postgis]}\n\
                cdc:\n  - {database: d, role: c, publication: p, tables: all, slot: s1}\n";
    let mut s = empty_cluster();
    s.wal_level = "replica".into();
    s.slots.insert(
        "s1".into(),
        SlotState {
            plugin: None,
            database: None,
            logical: false,
            active: false,
        },
    );
    let err = run(&desired(yaml), &s, false).unwrap_err();
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn a_grant_to_an_undeclared_role_points_at_that_grant() {
    let yaml = "\
roles:
  - name: app
databases:
  - name: d
    grants:
      - {role: app, privileges: [CONNECT]}
      - {role: ghost, privileges: [CONNECT]}
    schemas:
      - name: s
        grants:
          - role: app
            privileges: [USAGE]
          - role: phantom
            tables: [SELECT]
            default: true
            default_for: [app, spectre]
";
    let err = run(&desired(yaml), &empty_cluster(), false).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "spec.yaml:7:10: role `ghost` (grantee on database `d`) does not exist and is not declared under roles:",
            "spec.yaml:13:13: role `phantom` (grantee on schema `s` in database `d`) does not exist and is not declared under roles:",
            "spec.yaml:16:32: role `spectre` (default_for on schema `s` in database `d`) does not exist and is not declared under roles:",
        ]
    );
}

#[test]
fn a_cdc_entry_on_an_unknown_database_points_at_its_database() {
    let yaml = "\
databases:
  - name: app
cdc:
  - database: app
    role: c1
    publication: p1
    tables: [public.orders]
    slot: s1
  - database: elsewhere
    role: c2
    publication: p2
    tables: [orders, audit.log]
    slot: s2
";
    let err = run(&desired(yaml), &empty_cluster(), false).unwrap_err();
    assert_eq!(
        err.problems,
        ["spec.yaml:9:5: database `elsewhere` (named by cdc:) does not exist and is not declared under databases:"]
    );
}

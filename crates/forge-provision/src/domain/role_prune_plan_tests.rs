//! Tests of `role_prune_plan`: what blocks `DROP ROLE`, and `reassign_owned_to`.

use crate::domain::catalog::{ClusterState, DatabaseState, DependencyKind, RoleDependency};
use crate::domain::postgres_plan::tests::{desired, empty_cluster, role, run};

const SPEC: &str = "\
prune: {roles: true, databases: true}
roles:
  - name: app
databases:
  - name: app
  - name: kept
";

fn dep(
    database: Option<&str>,
    kind: DependencyKind,
    class: &str,
    object: Option<&str>,
    count: i64,
) -> RoleDependency {
    RoleDependency {
        database: database.map(str::to_owned),
        kind,
        class: class.into(),
        object: object.map(str::to_owned),
        count,
    }
}

/// `stray` owns `kept` and a table in `app`, holds privileges in `app` and on
/// database `app`, and owns things in `old` (which prune drops); `idle` has nothing.
fn cluster() -> ClusterState {
    use DependencyKind::*;
    let mut s = empty_cluster();
    s.roles.insert("app".into(), role(false, None));
    s.roles.insert("stray".into(), role(false, None));
    s.roles.insert("idle".into(), role(false, None));
    for (name, owner) in [("app", "app"), ("kept", "stray"), ("old", "stray")] {
        s.databases.insert(
            name.into(),
            DatabaseState {
                owner: owner.into(),
                ..DatabaseState::default()
            },
        );
    }
    s.role_dependencies.insert(
        "stray".into(),
        vec![
            dep(None, Owner, "pg_database", Some("kept"), 1),
            dep(None, Owner, "pg_database", Some("old"), 1),
            dep(None, Privileges, "pg_database", Some("app"), 1),
            dep(None, Privileges, "pg_database", Some("old"), 1),
            dep(Some("app"), Owner, "pg_class", None, 1),
            dep(Some("app"), Owner, "pg_default_acl", None, 2),
            dep(Some("app"), Privileges, "pg_class", None, 3),
            dep(Some("old"), Owner, "pg_class", None, 5),
        ],
    );
    s
}

#[test]
fn a_role_that_owns_or_holds_something_is_a_problem_before_any_change() {
    let err = run(&desired(SPEC), &cluster(), true).unwrap_err();
    assert_eq!(
        err.problems,
        ["spec.yaml:1:9: role `stray` cannot be dropped: it owns database `kept`; \
          in database `app` it owns 1 table, view or sequence, sets default privileges (2 entries), \
          has privileges on 3 tables, views or sequences; \
          on shared objects it has privileges on database `app`. Set prune.reassign_owned_to to the role that takes them over \
          (REASSIGN OWNED, then DROP OWNED, in each of those databases), or move them first"]
    );
    // Without --allow-prune nothing is dropped, so nothing is in the way.
    assert!(run(&desired(SPEC), &cluster(), false).unwrap().is_empty());
}

#[test]
fn reassign_owned_to_runs_in_each_database_before_drop_role() {
    let spec = SPEC.replace(
        "databases: true}",
        "databases: true, reassign_owned_to: app}",
    );
    let plan = run(&desired(&spec), &cluster(), true).unwrap();
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn a_database_the_spec_gives_another_owner_does_not_block() {
    let spec = SPEC.replace("  - name: kept\n", "  - {name: kept, owner: app}\n");
    let mut s = cluster();
    s.role_dependencies.remove("stray");
    let plan = run(&desired(&spec), &s, true).unwrap().to_string();
    assert!(
        plan.contains("ALTER DATABASE \"kept\" OWNER TO \"app\";"),
        "{plan}"
    );
    assert!(plan.contains("DROP ROLE \"stray\";"), "{plan}");
    assert!(!plan.contains("REASSIGN"), "{plan}");
}

#[test]
fn in_the_connected_database_it_runs_with_drop_role() {
    let spec = SPEC.replace("databases: true}", "reassign_owned_to: postgres}");
    let mut s = empty_cluster();
    s.roles.insert("app".into(), role(false, None));
    s.roles.insert("stray".into(), role(false, None));
    s.role_dependencies.insert(
        "stray".into(),
        vec![dep(
            Some("postgres"),
            DependencyKind::Privileges,
            "pg_namespace",
            None,
            1,
        )],
    );
    let plan = run(&desired(&spec), &s, true).unwrap().to_string();
    assert!(
        plan.contains(
            "-- cluster (connected database), one transaction\nREASSIGN OWNED BY \"stray\" TO \"postgres\";\n\
             DROP OWNED BY \"stray\";\nDROP ROLE \"stray\";\n"
        ),
        "{plan}"
    );
}

#[test]
fn the_target_must_exist_or_be_declared_and_not_be_pruned() {
    let spec = |target: &str| {
        SPEC.replace(
            "databases: true}",
            &format!("reassign_owned_to: {target}}}"),
        )
    };
    let mut s = cluster();
    s.role_dependencies.clear();
    s.databases.remove("kept");
    let err = run(&desired(&spec("ghost")), &s, false).unwrap_err();
    assert_eq!(
        err.problems,
        ["spec.yaml:1:22: role `ghost` (prune.reassign_owned_to) does not exist and is not declared under roles:"]
    );
    let err = run(&desired(&spec("idle")), &s, true).unwrap_err();
    assert_eq!(
        err.problems,
        ["spec.yaml:1:22: role `idle` (prune.reassign_owned_to) is not declared under roles:, so prune would drop it; declare it"]
    );
    assert!(run(&desired(&spec("app")), &s, true).is_ok());
    assert!(run(&desired(&spec("postgres")), &s, true).is_ok());
}

#[test]
fn a_role_the_spec_uses_but_does_not_declare_is_not_pruned_silently() {
    let spec =
        "prune: {roles: true}\nroles:\n  - name: app\ndatabases:\n  - {name: app, owner: stray}\n";
    let mut s = cluster();
    s.role_dependencies.clear();
    s.databases.remove("kept");
    s.databases.remove("old");
    let err = run(&desired(spec), &s, true).unwrap_err();
    assert_eq!(
        err.problems[0],
        "spec.yaml:5:17: role `stray` (owner of database `app`) is not declared under roles:, so prune would drop it; declare it"
    );
    // And, as it would own `app` once the plan ran, it cannot be dropped either.
    assert!(err.problems[1].contains("role `stray` cannot be dropped: it owns database `app`"));
    assert!(run(&desired(spec), &s, false).is_ok());
}

//! The planner: step order, dependencies, products, scopes.

use super::*;

fn shape(name: &str, deps: &[&str]) -> ServiceShape {
    ServiceShape {
        name: name.into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        has_cache: true,
        has_gitops: true,
        has_cluster: true,
        migrations_before: name == "api",
        migrations_after: false,
        has_verify: true,
    }
}

#[test]
fn a_service_changes_the_environment_only_after_what_it_depends_on() {
    let plan = ReleasePlan::new("staging", &[shape("web", &["api"]), shape("api", &[])]).unwrap();
    assert_eq!(plan.services(), ["api", "web"]);
    let keys: Vec<&str> = plan.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "api/staging/build",
            "api/staging/cache",
            "api/staging/image",
            "api/staging/migrate-before",
            "api/staging/pin",
            "api/staging/reconcile",
            "api/staging/rollout",
            "api/staging/verify",
            "web/staging/build",
            "web/staging/cache",
            "web/staging/image",
            "web/staging/pin",
            "web/staging/reconcile",
            "web/staging/rollout",
            "web/staging/verify",
        ]
    );
    let web_build = plan
        .step(&StepKey::parse("web/staging/build").unwrap())
        .unwrap();
    assert!(
        web_build.after.is_empty(),
        "publishing does not wait for api"
    );
    let web_pin = plan
        .step(&StepKey::parse("web/staging/pin").unwrap())
        .unwrap();
    let after: Vec<&str> = web_pin.after.iter().map(StepKey::as_str).collect();
    assert_eq!(after, ["web/staging/image", "api/staging/verify"]);
}

#[test]
fn what_a_service_lacks_is_not_planned() {
    let bare = ServiceShape {
        name: "tool".into(),
        ..ServiceShape::default()
    };
    let plan = ReleasePlan::new("dev", &[bare]).unwrap();
    let keys: Vec<&str> = plan.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["tool/dev/build", "tool/dev/image"]);
}

#[test]
fn migrations_only_publishes_then_migrates_in_dependency_order() {
    let mut web = shape("web", &["api"]);
    web.migrations_after = true;
    let plan = ReleasePlan::migrations_only("s", &[web, shape("api", &[])]).unwrap();
    let keys: Vec<&str> = plan.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "api/s/build",
            "api/s/cache",
            "api/s/image",
            "api/s/migrate-before",
            "web/s/build",
            "web/s/cache",
            "web/s/image",
            "web/s/migrate-after",
        ]
    );
    let after: Vec<&str> = plan.steps[7].after.iter().map(StepKey::as_str).collect();
    assert_eq!(after, ["web/s/image", "api/s/migrate-before"]);
}

#[test]
fn a_product_publishes_once_and_promotes_behind_a_gate() {
    let envs = vec![
        (
            "staging".to_owned(),
            vec![shape("web", &["api"]), shape("api", &[])],
        ),
        (
            "production".to_owned(),
            vec![shape("web", &["api"]), shape("api", &[])],
        ),
    ];
    let plan = ReleasePlan::product("shop", &envs).unwrap();
    let keys: Vec<&str> = plan.steps.iter().map(|s| s.key.as_str()).collect();
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("api/production/build") || k.ends_with("production/image")),
        "{keys:?}"
    );
    let gate = plan
        .step(&StepKey::parse("shop/production/gate").unwrap())
        .unwrap();
    let after: Vec<&str> = gate.after.iter().map(StepKey::as_str).collect();
    assert_eq!(after, ["api/staging/verify", "web/staging/verify"]);
    let pin = plan
        .step(&StepKey::parse("api/production/migrate-before").unwrap())
        .unwrap();
    let after: Vec<&str> = pin.after.iter().map(StepKey::as_str).collect();
    assert_eq!(after, ["api/staging/image", "shop/production/gate"]);
    let web = plan
        .step(&StepKey::parse("web/production/pin").unwrap())
        .unwrap();
    let after: Vec<&str> = web.after.iter().map(StepKey::as_str).collect();
    // Behind the gate through api, which it waits for.
    assert_eq!(after, ["web/staging/image", "api/production/verify"]);
    assert_eq!(plan.environments(), ["staging", "production"]);
    assert_eq!(plan.services(), ["api", "web"]);
    assert_eq!(plan.targets().len(), 4);
}

#[test]
fn product_hosts_deploy_behind_their_environments_gate_and_hold_the_next() {
    let envs = vec![
        ("staging".to_owned(), vec![shape("api", &[])]),
        ("production".to_owned(), vec![shape("api", &[])]),
    ];
    let plan = ReleasePlan::product("shop", &envs).unwrap().with_hosts(
        "shop",
        &[
            ("web1".into(), "staging".into()),
            ("web2".into(), "production".into()),
        ],
    );
    let host = plan
        .step(&StepKey::parse("web2/production/host-deploy").unwrap())
        .unwrap();
    let after: Vec<&str> = host.after.iter().map(StepKey::as_str).collect();
    assert_eq!(after, ["shop/production/gate"]);
    let gate = plan
        .step(&StepKey::parse("shop/production/gate").unwrap())
        .unwrap();
    assert!(
        gate.after
            .iter()
            .any(|k| k.as_str() == "web1/staging/host-deploy"),
        "{gate:?}"
    );
    assert_eq!(plan.targets(), [("api", "staging"), ("api", "production")]);
}

#[test]
fn bad_dependencies_are_named() {
    let e = ReleasePlan::new("s", &[shape("web", &["nope"])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "service `web` depends on `nope`, which is not part of this release"
    );
    let e = ReleasePlan::new(
        "s",
        &[shape("a", &["b"]), shape("b", &["c"]), shape("c", &["a"])],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "services depend on each other in a cycle: a -> b -> c -> a"
    );
    assert_eq!(ReleasePlan::new("s", &[]).unwrap_err(), PlanError::Empty);
}

//! The hand-written schema against the types: the example validates, bad
//! files do not, and every struct's keys are the schema's properties.

use serde_json::Value;

use super::types::*;
use super::SCHEMA;

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("schema is JSON")
}

fn resolve_ref<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => root
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => s,
    }
}

/// A validator for the keywords the schema uses (no `pattern`); returns the
/// paths of the first problems found.
fn check(root: &Value, s: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve_ref(root, s);
    if let Some(any) = s["anyOf"].as_array() {
        let branches: Vec<Vec<String>> = any
            .iter()
            .map(|a| {
                let mut e = Vec::new();
                check(root, a, v, at, &mut e);
                e
            })
            .collect();
        if branches.iter().all(|e| !e.is_empty()) {
            errs.push(format!("{at}: matches no anyOf branch"));
            errs.extend(branches.into_iter().flatten());
        }
    }
    if let Some(allowed) = s["enum"].as_array() {
        if !allowed.contains(v) {
            errs.push(format!("{at}: {v} not in enum"));
        }
    }
    let type_ok = match s["type"].as_str() {
        None => true,
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("null") => v.is_null(),
        Some("boolean") => v.is_boolean(),
        Some(t) => panic!("type {t} not handled"),
    };
    if !type_ok {
        errs.push(format!("{at}: expected {}", s["type"]));
        return;
    }
    if let (Some(min), Some(n)) = (s["minimum"].as_i64(), v.as_i64()) {
        if n < min {
            errs.push(format!("{at}: below minimum"));
        }
    }
    if let (Some(max), Some(n)) = (s["maximum"].as_i64(), v.as_i64()) {
        if n > max {
            errs.push(format!("{at}: above maximum"));
        }
    }
    if let Some(items) = v.as_array() {
        if items.len() < s["minItems"].as_u64().unwrap_or(0) as usize {
            errs.push(format!("{at}: too few items"));
        }
        for (i, item) in items.iter().enumerate() {
            if s.get("items").is_some() {
                check(root, &s["items"], item, &format!("{at}[{i}]"), errs);
            }
        }
    }
    if let Some(map) = v.as_object() {
        if map.len() < s["minProperties"].as_u64().unwrap_or(0) as usize {
            errs.push(format!("{at}: too few properties"));
        }
        for r in s["required"].as_array().into_iter().flatten() {
            if !map.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing {r}"));
            }
        }
        for (k, item) in map {
            let here = format!("{at}.{k}");
            if let Some(p) = s["properties"].get(k) {
                check(root, p, item, &here, errs);
            } else {
                match &s["additionalProperties"] {
                    Value::Bool(false) => errs.push(format!("{here}: not allowed")),
                    Value::Object(_) => check(root, &s["additionalProperties"], item, &here, errs),
                    _ => {}
                }
            }
        }
    }
}

fn validate(yaml: &str) -> Vec<String> {
    let root = schema();
    let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let mut errs = Vec::new();
    check(&root, &root, &v, "$", &mut errs);
    errs
}

#[test]
fn the_example_validates_against_the_schema() {
    let errs = validate(include_str!("../../../../examples/deploy.yaml"));
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn a_file_of_hosts_only_validates() {
    let errs = validate("environments: {prod: {}}\nhosts:\n  web1: {environment: prod, confirm_timeout: 1m, verify: [{http: {url: 'http://x'}}]}\n");
    assert!(errs.is_empty(), "{errs:#?}");
    let errs = validate("hosts:\n  web1: {confirm_timeout: 1m}\n");
    assert!(
        errs.iter()
            .any(|e| e == "$.hosts.web1: missing \"environment\""),
        "{errs:?}"
    );
}

#[test]
fn the_schema_rejects_what_the_parser_rejects() {
    for (yaml, want) in [
        (
            "services: {app: {imag: {}}}",
            "$.services.app.imag: not allowed",
        ),
        (
            "services: {app: {rollback: sometimes}}",
            "$.services.app: matches no anyOf branch",
        ),
        (
            "services: {app: {image: {max_layers: 500}}}",
            "$.services.app: matches no anyOf branch",
        ),
        (
            "services: {app: null}\ncache: {url: x, token: secret}",
            "$.cache.token: not allowed",
        ),
    ] {
        let errs = validate(yaml);
        assert!(errs.iter().any(|e| e == want), "{yaml}: {errs:?}");
    }
}

/// serde's list of the keys a struct accepts, from its unknown-field error.
fn serde_keys<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
    let err = serde_yaml_ng::from_str::<T>("zzz_not_a_key: 1")
        .unwrap_err()
        .to_string();
    let expected = &err[err.find("expected").expect("unknown field error")..];
    let mut keys: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

fn schema_keys(pointer: &str) -> Vec<String> {
    let root = schema();
    let s = resolve_ref(
        &root,
        root.pointer(pointer).unwrap_or_else(|| panic!("{pointer}")),
    );
    let mut keys: Vec<String> = s["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn schema_and_types_have_the_same_keys() {
    let env = "/$defs/environment/properties";
    let svc = "/$defs/service/properties";
    let cases: Vec<(Vec<String>, String)> = vec![
        (serde_keys::<DeployFile>(), "".into()),
        (serde_keys::<CacheSpec>(), "/properties/cache".into()),
        (serde_keys::<LedgerSpec>(), "/properties/ledger".into()),
        (serde_keys::<GitopsSpec>(), "/properties/gitops".into()),
        (
            serde_keys::<GitAuthSpec>(),
            "/properties/gitops/properties/auth".into(),
        ),
        (
            serde_keys::<AuthorSpec>(),
            "/properties/gitops/properties/author".into(),
        ),
        (serde_keys::<EnvironmentSpec>(), "/$defs/environment".into()),
        (serde_keys::<FluxSpec>(), format!("{env}/flux")),
        (serde_keys::<KubeSpec>(), format!("{env}/kube")),
        (serde_keys::<TimeoutsSpec>(), format!("{env}/timeouts")),
        (serde_keys::<ServiceSpec>(), "/$defs/service".into()),
        (serde_keys::<ImageSpec>(), format!("{svc}/image")),
        (serde_keys::<WorkloadSpec>(), format!("{svc}/workload")),
        (serde_keys::<VerifySpec>(), format!("{svc}/verify/items")),
        (
            serde_keys::<HttpCheckSpec>(),
            "/$defs/check/properties/http".into(),
        ),
        (serde_keys::<super::hosts::HostSpec>(), "/$defs/host".into()),
        (serde_keys::<MigrationSpec>(), "/$defs/migration".into()),
        (serde_keys::<ProductSpec>(), "/$defs/product".into()),
        (serde_keys::<GateSpec>(), "/$defs/gate".into()),
        (
            serde_keys::<WindowSpec>(),
            "/$defs/gate/properties/window".into(),
        ),
        (
            serde_keys::<IntegrationTestSpec>(),
            "/$defs/product/properties/integration_test".into(),
        ),
        (serde_keys::<EnvFromSpec>(), "/$defs/envFrom".into()),
    ];
    for (keys, pointer) in cases {
        assert_eq!(keys, schema_keys(&pointer), "schema at {pointer:?}");
    }
}

//! `tests/fixtures/rollout/<case>.yaml`: objects with status; each carries
//! the verdict it must get in the `forge.test/expect` annotation. The
//! snapshot holds one verdict line per object.

use forge_core::kube::pod_failure::PodRules;
use forge_core::kube::rollout_verdict::{objects_from_yaml, verdict, ObjectId, Verdict};

use crate::{fixtures, sorted_entries};

#[test]
fn rollout_fixtures() {
    let files = sorted_entries(&fixtures("rollout"));
    assert!(!files.is_empty());
    let rules = PodRules::default();
    let mut mismatches = Vec::new();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let objects = objects_from_yaml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!objects.is_empty(), "{name}: no objects");
        let mut lines = String::new();
        for obj in &objects {
            let id = ObjectId::of(obj);
            let got = verdict(obj, &rules);
            let expect = obj["metadata"]["annotations"]["forge.test/expect"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {id} has no forge.test/expect"));
            if got.name() != expect {
                mismatches.push(format!("{name}: {id}: expected {expect}, got {got}"));
            }
            lines.push_str(&format!("{id}: {got}\n"));
        }
        insta::assert_snapshot!(format!("rollout_{name}"), lines);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn crashlooping_pod(restarts: u64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }]}
    })
}

#[test]
fn crashloop_threshold_is_configurable() {
    let strict = PodRules {
        crashloop_restarts: 1,
    };
    let lenient = PodRules {
        crashloop_restarts: 10,
    };
    assert!(matches!(
        verdict(&crashlooping_pod(1), &strict),
        Verdict::Failed { .. }
    ));
    assert!(matches!(
        verdict(&crashlooping_pod(5), &lenient),
        Verdict::InProgress { .. }
    ));
    assert!(matches!(
        verdict(&crashlooping_pod(10), &lenient),
        Verdict::Failed { .. }
    ));
}

#[test]
fn json_shape_of_a_verdict() {
    let v = Verdict::Failed { reason: "r".into() };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"status": "Failed", "reason": "r"})
    );
    assert_eq!(
        serde_json::to_value(Verdict::Current).unwrap(),
        serde_json::json!({"status": "Current"})
    );
}

#[test]
fn manifest_errors_are_located() {
    let err = objects_from_yaml("kind: Pod\nmetadata:\n  name: a\n   b: c\n").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(4), "{err}");
    let err = objects_from_yaml("just: data\n").unwrap_err();
    assert!(err.to_string().contains("not a Kubernetes object"), "{err}");
}

#[test]
fn objects_without_api_version_or_kind_are_refused_by_name() {
    const NEEDS: &str = "(every object needs apiVersion, kind and metadata.name)";
    let err =
        objects_from_yaml("kind: Deployment\nmetadata: {name: app, namespace: prod}\nstatus: {}\n")
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("document 1: Deployment prod/app has no apiVersion {NEEDS}")
    );
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a}\n- apiVersion: apps/v1\n  metadata: {name: b}\n";
    assert_eq!(
        objects_from_yaml(list).unwrap_err().to_string(),
        format!("document 1, item 2: not a Kubernetes object: no kind {NEEDS}")
    );
    let second = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\nkind: Pod\n";
    assert_eq!(
        objects_from_yaml(second).unwrap_err().to_string(),
        format!("document 2: not a Kubernetes object: no apiVersion or metadata.name {NEEDS}")
    );
}

#[test]
fn pathological_manifests_are_refused_before_parsing() {
    let nested = format!("apiVersion: v1\nkind: {}\n", "[".repeat(200_000));
    let err = objects_from_yaml(&nested).unwrap_err();
    assert_eq!(err.location, Some((2, 134)), "{err}");
    assert!(err.message.contains("nested more than 128 levels"), "{err}");
    let huge = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\n{}",
        "#\n".repeat(33 << 20)
    );
    let err = objects_from_yaml(&huge).unwrap_err();
    assert_eq!(err.location, None);
    assert!(err.message.starts_with("larger than 32.00 MiB"), "{err}");
}

#[test]
fn non_utf8_manifests_are_located_at_the_first_bad_byte() {
    use forge_core::kube::rollout_verdict::objects_from_bytes;
    let err =
        objects_from_bytes(b"apiVersion: v1\nkind: Pod\nmetadata: {name: \xff}\n").unwrap_err();
    assert_eq!(err.location, Some((3, 18)), "{err}");
    assert!(err.message.contains("not UTF-8"), "{err}");
}

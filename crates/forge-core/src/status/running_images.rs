//! Which images a workload's pods run, from one list of the namespace's pods
//! (no call per workload): pods are matched to the workload by its label
//! selector, and each container's digest is read from its `imageID` (what
//! the kubelet pulled), else from the image when it names a digest.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::kube::pod_failure::str_at;

use super::model::RunningImage;

/// Whether `labels` (an object) satisfy `selector` (`matchLabels` and
/// `matchExpressions` with In, NotIn, Exists, DoesNotExist). An empty
/// selector matches nothing: a workload without one owns no pods we can tell.
pub fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let match_labels = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"].as_array();
    if match_labels.is_none_or(|m| m.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        return false;
    }
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let expressions_ok = expressions.into_iter().flatten().all(|e| {
        let key = str_at(e, "key");
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match (str_at(e, "operator"), label(key)) {
            ("In", Some(v)) => values.contains(&v),
            ("In", None) => false,
            ("NotIn", Some(v)) => !values.contains(&v),
            ("NotIn", None) => true,
            ("Exists", found) => found.is_some(),
            ("DoesNotExist", found) => found.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// `sha256:…` from `repo@sha256:…`, `docker-pullable://repo@sha256:…` or a
/// bare digest.
pub fn digest_of(image: &str) -> Option<&str> {
    let tail = image.rsplit('@').next().unwrap_or(image);
    tail.starts_with("sha256:").then_some(tail)
}

/// The repository of `repo[:tag][@digest]` (a port in the host stays).
pub fn repository_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// The images of the workload's pod template.
pub fn template_images(workload: &Value) -> Vec<String> {
    crate::kube::rollout_progress::template_images(workload)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// What the live pods of `workload` (those its selector matches, not
/// finished, not being deleted) run for the containers whose repository is
/// `repository`; every container's when none is. Sorted by image and digest.
pub fn running_images(workload: &Value, pods: &[Value], repository: &str) -> Vec<RunningImage> {
    let namespace = workload["metadata"]["namespace"].as_str();
    let selector = &workload["spec"]["selector"];
    let mut counts: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    let mut all: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    for pod in pods {
        let live = !matches!(str_at(&pod["status"], "phase"), "Succeeded" | "Failed")
            && pod["metadata"]["deletionTimestamp"].is_null();
        if !live
            || pod["metadata"]["namespace"].as_str() != namespace
            || !selector_matches(selector, &pod["metadata"]["labels"])
        {
            continue;
        }
        for (image, digest) in pod_images(pod) {
            let key = (image, digest);
            if repository_of(&key.0) == repository {
                *counts.entry(key.clone()).or_default() += 1;
            }
            *all.entry(key).or_default() += 1;
        }
    }
    let chosen = if counts.is_empty() { all } else { counts };
    chosen
        .into_iter()
        .map(|((image, digest), pods)| RunningImage {
            image,
            digest,
            pods,
        })
        .collect()
}

/// Each container of the pod: its image (as the spec names it) and digest.
fn pod_images(pod: &Value) -> Vec<(String, Option<String>)> {
    let statuses = pod["status"]["containerStatuses"].as_array();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = str_at(c, "name");
            let image = str_at(c, "image").to_owned();
            let status = statuses
                .into_iter()
                .flatten()
                .find(|s| str_at(s, "name") == name);
            let digest = status
                .and_then(|s| digest_of(str_at(s, "imageID")))
                .or_else(|| status.and_then(|s| digest_of(str_at(s, "image"))))
                .or_else(|| digest_of(&image))
                .map(str::to_owned);
            (image, digest)
        })
        .collect()
}

/// Ready and desired replicas of a Deployment, StatefulSet or DaemonSet.
pub fn replicas(workload: &Value) -> (i64, i64) {
    let status = &workload["status"];
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    if str_at(workload, "kind") == "DaemonSet" {
        (
            int(&status["numberReady"]),
            int(&status["desiredNumberScheduled"]),
        )
    } else {
        // The API defaults spec.replicas to 1.
        let desired = workload["spec"]["replicas"].as_i64().unwrap_or(1);
        (int(&status["readyReplicas"]), desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn deployment() -> Value {
        json!({
            "kind": "Deployment",
            "metadata": {"namespace": "prod", "name": "app"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "app"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": format!("reg/app:v1@{D1}")}]}}},
            "status": {"readyReplicas": 2}
        })
    }

    fn pod(ns: &str, labels: Value, image: &str, image_id: &str) -> Value {
        json!({
            "metadata": {"namespace": ns, "name": "p", "labels": labels},
            "spec": {"containers": [{"name": "app", "image": image}, {"name": "sidecar", "image": "envoy:1"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "image": image, "imageID": image_id},
                {"name": "sidecar", "image": "envoy:1", "imageID": ""}]}
        })
    }

    #[test]
    fn digests_come_from_image_ids_then_from_the_image() {
        let pods = vec![
            pod(
                "prod",
                json!({"app": "app"}),
                &format!("reg/app:v1@{D1}"),
                "",
            ),
            pod(
                "prod",
                json!({"app": "app"}),
                "reg/app:v1",
                &format!("docker-pullable://reg/app@{D2}"),
            ),
            pod("prod", json!({"app": "app"}), "reg/app:v1", ""),
        ];
        let running = running_images(&deployment(), &pods, "reg/app");
        assert_eq!(
            running,
            vec![
                RunningImage {
                    image: "reg/app:v1".into(),
                    digest: None,
                    pods: 1
                },
                RunningImage {
                    image: "reg/app:v1".into(),
                    digest: Some(D2.into()),
                    pods: 1
                },
                RunningImage {
                    image: format!("reg/app:v1@{D1}"),
                    digest: Some(D1.into()),
                    pods: 1
                },
            ]
        );
    }

    #[test]
    fn only_live_pods_of_the_workload_count() {
        let image = format!("reg/app@{D1}");
        let mut done = pod("prod", json!({"app": "app"}), &image, "");
        done["status"]["phase"] = json!("Succeeded");
        let mut deleting = pod("prod", json!({"app": "app"}), &image, "");
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let pods = vec![
            pod("other", json!({"app": "app"}), &image, ""),
            pod("prod", json!({"app": "web"}), &image, ""),
            done,
            deleting,
            pod("prod", json!({"app": "app", "extra": "x"}), &image, ""),
        ];
        let running = running_images(&deployment(), &pods, "reg/app");
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].pods, 1);
    }

    #[test]
    fn other_repositories_show_when_none_matches() {
        let pods = vec![pod("prod", json!({"app": "app"}), "elsewhere/app:v2", "")];
        let running = running_images(&deployment(), &pods, "reg/app");
        let images: Vec<&str> = running.iter().map(|r| r.image.as_str()).collect();
        assert_eq!(images, vec!["elsewhere/app:v2", "envoy:1"]);
    }

    #[test]
    fn selectors_with_expressions() {
        let sel = json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "app", "operator": "Exists"}]});
        assert!(selector_matches(&sel, &json!({"tier": "web", "app": "x"})));
        assert!(!selector_matches(&sel, &json!({"tier": "db", "app": "x"})));
        assert!(!selector_matches(
            &sel,
            &json!({"tier": "web", "app": "x", "canary": "1"})
        ));
        assert!(!selector_matches(
            &sel,
            &json!({"tier": "web", "app": "x", "env": "dev"})
        ));
        assert!(!selector_matches(&sel, &json!({"tier": "web"})));
        assert!(!selector_matches(&json!({}), &json!({"app": "x"})));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
            &json!({"a": "1"})
        ));
    }

    #[test]
    fn repositories_and_digests() {
        assert_eq!(repository_of("reg:5000/app:v1@sha256:ab"), "reg:5000/app");
        assert_eq!(repository_of("reg:5000/app"), "reg:5000/app");
        assert_eq!(repository_of("app:v1"), "app");
        assert_eq!(digest_of("x@sha256:ab"), Some("sha256:ab"));
        assert_eq!(digest_of("sha256:ab"), Some("sha256:ab"));
        assert_eq!(digest_of("app:v1"), None);
        assert_eq!(digest_of(""), None);
    }

    #[test]
    fn replica_counts() {
        assert_eq!(replicas(&deployment()), (2, 3));
        let ds =
            json!({"kind": "DaemonSet", "status": {"numberReady": 4, "desiredNumberScheduled": 5}});
        assert_eq!(replicas(&ds), (4, 5));
        assert_eq!(
            replicas(&json!({"kind": "StatefulSet", "spec": {}})),
            (0, 1)
        );
    }
}

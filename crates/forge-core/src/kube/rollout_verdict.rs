//! Has an object finished rolling out? Pure rules over the object's JSON
//! (from the API server or a file), kept apart from any watch loop.
//!
//! - Deployment: kubectl's `rollout status` rules. The status must belong to
//!   the current generation (`observedGeneration >= generation`; a stale
//!   status with all counts right is *not* done, see krane#325), then:
//!   `Progressing` reason `ProgressDeadlineExceeded` fails; updated replicas
//!   must reach `spec.replicas`, old replicas must be gone, and every updated
//!   replica must be available.
//! - StatefulSet (RollingUpdate): the generation gate, all replicas ready,
//!   then with a partition `updatedReplicas >= replicas - partition`, without
//!   one `updateRevision == currentRevision`. OnDelete has no rollout: Current.
//! - DaemonSet (RollingUpdate): the generation gate, then updated and
//!   available pods must reach `desiredNumberScheduled`. OnDelete: Current.
//! - Pod: [`super::pod_failure`].
//! - Job: condition Failed fails, Complete is Current.
//! - Anything else, kstatus style: being deleted or an unobserved generation
//!   is in progress, `Reconciling=True` in progress, `Stalled=True` failed,
//!   then `Ready` decides (False or Unknown is in progress, never failed);
//!   no known condition means Current.
//!
//! Deployments and friends never look at their pods here: fast failure from
//! the new pods is the watch's job, which feeds them to `pod_failure`.

use serde_json::Value;

use super::pod_failure::{
    classify_pod, condition, condition_true, join_reason, str_at, PodHealth, PodRules,
};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "PascalCase")]
pub enum Verdict {
    Current,
    InProgress { reason: String },
    Failed { reason: String },
}

impl Verdict {
    fn in_progress(reason: impl Into<String>) -> Self {
        Verdict::InProgress {
            reason: reason.into(),
        }
    }

    fn failed(reason: impl Into<String>) -> Self {
        Verdict::Failed {
            reason: reason.into(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Current => "Current",
            Verdict::InProgress { .. } => "InProgress",
            Verdict::Failed { .. } => "Failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Current => None,
            Verdict::InProgress { reason } | Verdict::Failed { reason } => Some(reason),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason() {
            None => f.write_str(self.name()),
            Some(r) => write!(f, "{}: {r}", self.name()),
        }
    }
}

/// Who an object is: `Deployment prod/app`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    pub fn of(obj: &Value) -> Self {
        let meta = &obj["metadata"];
        Self {
            api_version: str_at(obj, "apiVersion").to_owned(),
            kind: str_at(obj, "kind").to_owned(),
            namespace: meta["namespace"].as_str().map(str::to_owned),
            name: str_at(meta, "name").to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The verdict for one object, status included.
pub fn verdict(obj: &Value, rules: &PodRules) -> Verdict {
    let group = str_at(obj, "apiVersion")
        .rsplit_once('/')
        .map_or("", |(g, _)| g);
    match (group, str_at(obj, "kind")) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps", "DaemonSet") => daemonset(obj),
        ("", "Pod") => pod(obj, rules),
        ("batch", "Job") => job(obj),
        _ => generic(obj),
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// kubectl's gate: the status must describe the current spec.
fn generation_gate(obj: &Value, what: &str) -> Option<Verdict> {
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return Some(Verdict::in_progress("being deleted"));
    }
    let generation = int(&obj["metadata"]["generation"]).unwrap_or(0);
    match int(&obj["status"]["observedGeneration"]) {
        None => Some(Verdict::in_progress(format!(
            "waiting for the {what} controller to observe it (no status.observedGeneration)"
        ))),
        Some(observed) if observed < generation || observed == 0 => Some(Verdict::in_progress(format!(
            "waiting for the {what} spec update to be observed (generation {generation}, observed {observed})"
        ))),
        Some(_) => None,
    }
}

fn deployment(obj: &Value) -> Verdict {
    if let Some(v) = generation_gate(obj, "deployment") {
        return v;
    }
    let status = &obj["status"];
    if let Some(c) = condition(status, "Progressing") {
        if str_at(c, "reason") == "ProgressDeadlineExceeded" {
            return Verdict::failed(join_reason(
                "exceeded its progress deadline",
                str_at(c, "message"),
            ));
        }
    }
    let desired = int(&obj["spec"]["replicas"]).unwrap_or(1);
    let updated = int(&status["updatedReplicas"]).unwrap_or(0);
    let replicas = int(&status["replicas"]).unwrap_or(0);
    let available = int(&status["availableReplicas"]).unwrap_or(0);
    if updated < desired {
        return Verdict::in_progress(format!(
            "{updated} of {desired} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return Verdict::in_progress(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Verdict::in_progress(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    Verdict::Current
}

fn statefulset(obj: &Value) -> Verdict {
    let strategy = &obj["spec"]["updateStrategy"];
    if str_at(strategy, "type") == "OnDelete" {
        return Verdict::Current;
    }
    if let Some(v) = generation_gate(obj, "statefulset") {
        return v;
    }
    let status = &obj["status"];
    let desired = int(&obj["spec"]["replicas"]).unwrap_or(1);
    let ready = int(&status["readyReplicas"]).unwrap_or(0);
    let updated = int(&status["updatedReplicas"]).unwrap_or(0);
    if ready < desired {
        return Verdict::in_progress(format!("{ready} of {desired} pods are ready"));
    }
    if let Some(partition) = int(&strategy["rollingUpdate"]["partition"]) {
        let want = desired - partition;
        if updated < want {
            return Verdict::in_progress(format!(
                "{updated} of {want} pods updated (partition {partition})"
            ));
        }
        return Verdict::Current;
    }
    let (update, current) = (
        str_at(status, "updateRevision"),
        str_at(status, "currentRevision"),
    );
    if update != current {
        return Verdict::in_progress(format!(
            "{updated} of {desired} pods at revision {update} (current revision {current})"
        ));
    }
    Verdict::Current
}

fn daemonset(obj: &Value) -> Verdict {
    if str_at(&obj["spec"]["updateStrategy"], "type") == "OnDelete" {
        return Verdict::Current;
    }
    if let Some(v) = generation_gate(obj, "daemon set") {
        return v;
    }
    let status = &obj["status"];
    let desired = int(&status["desiredNumberScheduled"]).unwrap_or(0);
    let updated = int(&status["updatedNumberScheduled"]).unwrap_or(0);
    let available = int(&status["numberAvailable"]).unwrap_or(0);
    if updated < desired {
        return Verdict::in_progress(format!("{updated} of {desired} updated pods are scheduled"));
    }
    if available < desired {
        return Verdict::in_progress(format!(
            "{available} of {desired} updated pods are available"
        ));
    }
    Verdict::Current
}

fn pod(obj: &Value, rules: &PodRules) -> Verdict {
    match classify_pod(obj, rules) {
        PodHealth::Healthy => Verdict::Current,
        PodHealth::Failed(failures) => Verdict::failed(
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        PodHealth::Transient(why) => Verdict::in_progress(format!("{why} (transient)")),
        PodHealth::Waiting(why) => Verdict::in_progress(why),
    }
}

fn job(obj: &Value) -> Verdict {
    let status = &obj["status"];
    if let Some(c) = condition(status, "Failed").filter(|c| str_at(c, "status") == "True") {
        return Verdict::failed(join_reason(str_at(c, "reason"), str_at(c, "message")));
    }
    if condition_true(status, "Complete") {
        return Verdict::Current;
    }
    Verdict::in_progress(format!(
        "{} active, {} succeeded",
        int(&status["active"]).unwrap_or(0),
        int(&status["succeeded"]).unwrap_or(0)
    ))
}

fn generic(obj: &Value) -> Verdict {
    if !obj["metadata"]["deletionTimestamp"].is_null() {
        return Verdict::in_progress("being deleted");
    }
    let status = &obj["status"];
    if let (Some(observed), Some(generation)) = (
        int(&status["observedGeneration"]),
        int(&obj["metadata"]["generation"]),
    ) {
        if observed != generation {
            return Verdict::in_progress(format!(
                "generation {generation} not observed yet (observed {observed})"
            ));
        }
    }
    let describe = |c: &Value| {
        let text = join_reason(str_at(c, "reason"), str_at(c, "message"));
        format!(
            "{}={}{}",
            str_at(c, "type"),
            str_at(c, "status"),
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        )
    };
    if let Some(c) = condition(status, "Reconciling").filter(|c| str_at(c, "status") == "True") {
        return Verdict::in_progress(describe(c));
    }
    if let Some(c) = condition(status, "Stalled").filter(|c| str_at(c, "status") == "True") {
        return Verdict::failed(describe(c));
    }
    match condition(status, "Ready") {
        Some(c) if str_at(c, "status") == "True" => Verdict::Current,
        Some(c) => Verdict::in_progress(describe(c)),
        None => Verdict::Current,
    }
}

/// A manifest that is not a list of Kubernetes objects.
#[derive(Debug, thiserror::Error)]
pub struct ManifestError {
    /// 1-based line and column, when the parser knows them.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "{line}:{column}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The objects of a (multi-document) YAML or JSON manifest; `kind: List`
/// documents are expanded, empty documents skipped.
pub fn objects_from_yaml(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    for (n, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
            let location = e.location().map(|l| (l.line(), l.column()));
            let message = e.to_string();
            // The parser appends its own "at line X column Y".
            let message = message.split(" at line ").next().unwrap_or_default();
            ManifestError {
                location,
                message: format!("document {}: {message}", n + 1),
            }
        })?;
        if value.is_null() {
            continue;
        }
        let kind = str_at(&value, "kind");
        if kind.is_empty()
            || value["metadata"]["name"].as_str().is_none() && !kind.ends_with("List")
        {
            return Err(ManifestError {
                location: None,
                message: format!(
                    "document {}: not a Kubernetes object (needs kind and metadata.name)",
                    n + 1
                ),
            });
        }
        match value["items"].as_array() {
            Some(items) if kind.ends_with("List") => out.extend(items.iter().cloned()),
            _ => out.push(value),
        }
    }
    Ok(out)
}

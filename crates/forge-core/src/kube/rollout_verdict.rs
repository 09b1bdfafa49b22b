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
//!   one `updateRevision == currentRevision` (a missing `updateRevision` is
//!   in progress). OnDelete has no rollout: Current.
//! - DaemonSet (RollingUpdate): the generation gate, then updated and
//!   available pods must reach `desiredNumberScheduled` (missing: in
//!   progress). OnDelete: Current.
//! - Pod: [`super::pod_failure`].
//! - Job: condition Failed fails, Complete is Current.
//! - Anything else, kstatus style: being deleted or an unobserved generation
//!   is in progress, `Reconciling=True` in progress, `Stalled=True` failed,
//!   then `Ready` decides (False or Unknown is in progress, never failed);
//!   no known condition means Current.
//!
//! A status that lacks what a rule needs (`observedGeneration`, a
//! DaemonSet's `desiredNumberScheduled`, a StatefulSet's `updateRevision`)
//! is in progress, never Current; counts the API omits when zero read as 0.
//!
//! Deployments and friends never look at their pods here: fast failure from
//! the new pods is the watch's job, which feeds them to `pod_failure`.

use serde_json::Value;

use crate::yaml_limits::{split_bom, utf8_text, InputError, YamlLimits};

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
#[serde(rename_all = "snake_case")]
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
    // Two missing revisions are equal, which would read as done.
    if update.is_empty() {
        return Verdict::in_progress(
            "waiting for the statefulset controller to report its revisions (no status.updateRevision)",
        );
    }
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
    // Without it every count below is 0 of 0, which would read as done.
    let Some(desired) = int(&status["desiredNumberScheduled"]) else {
        return Verdict::in_progress(
            "waiting for the daemon set controller to count its nodes (no status.desiredNumberScheduled)",
        );
    };
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

impl From<InputError> for ManifestError {
    fn from(e: InputError) -> Self {
        ManifestError {
            location: e.location(),
            message: e.to_string(),
        }
    }
}

/// [`objects_from_yaml`] of a file's bytes: not UTF-8 is an error at the
/// first invalid byte.
pub fn objects_from_bytes(bytes: &[u8]) -> Result<Vec<Value>, ManifestError> {
    objects_from_yaml(utf8_text(bytes)?)
}

/// The objects of a (multi-document) YAML or JSON manifest; `kind: List`
/// documents are expanded, empty documents skipped. Every object needs
/// apiVersion, kind and metadata.name: the verdict's rules are chosen by
/// group and kind, and a guess would call a broken workload Current.
/// Input past [`YamlLimits::MANIFEST`] is refused before parsing.
pub fn objects_from_yaml(text: &str) -> Result<Vec<Value>, ManifestError> {
    let (_, text) = split_bom(text);
    YamlLimits::MANIFEST.check(text)?;
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
        match value["items"].as_array() {
            Some(items) if str_at(&value, "kind").ends_with("List") => {
                for (m, item) in items.iter().enumerate() {
                    check_object(item, || format!("document {}, item {}", n + 1, m + 1))?;
                }
                out.extend(items.iter().cloned());
            }
            _ => {
                check_object(&value, || format!("document {}", n + 1))?;
                out.push(value);
            }
        }
    }
    Ok(out)
}

/// apiVersion, kind and metadata.name are there; the error names the
/// object as far as it can (`where_` is the document, or the List item).
fn check_object(obj: &Value, where_: impl Fn() -> String) -> Result<(), ManifestError> {
    const NEEDS: &str = "every object needs apiVersion, kind and metadata.name";
    let id = ObjectId::of(obj);
    let missing: Vec<&str> = [
        ("apiVersion", &id.api_version),
        ("kind", &id.kind),
        ("metadata.name", &id.name),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_empty())
    .map(|(k, _)| k)
    .collect();
    let message = match missing.as_slice() {
        [] => return Ok(()),
        [_, _, _] => format!("{}: not a Kubernetes object ({NEEDS})", where_()),
        _ if id.kind.is_empty() || id.name.is_empty() => format!(
            "{}: not a Kubernetes object: no {} ({NEEDS})",
            where_(),
            missing.join(" or ")
        ),
        _ => format!(
            "{}: {id} has no {} ({NEEDS})",
            where_(),
            missing.join(" or ")
        ),
    };
    Err(ManifestError {
        location: None,
        message,
    })
}

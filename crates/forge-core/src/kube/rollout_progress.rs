//! Pure rules: a workload plus its new pods, one verdict.
//!
//! kubectl's rules ([`super::rollout_verdict`]) only say "in progress" for a
//! rollout whose new pods can never start, until the progress deadline (10
//! minutes by default). Here the workload's verdict is combined with the
//! classification ([`super::pod_failure`]) of the pods of the *new* revision
//! only, so a doomed rollout fails as soon as one of its pods shows it while
//! old pods (still serving, or failing from an earlier attempt) never count:
//!
//! - Deployment: the ReplicaSet owned by it whose
//!   `deployment.kubernetes.io/revision` annotation equals the Deployment's,
//!   and the pods carrying that ReplicaSet's `pod-template-hash` label.
//! - StatefulSet: the pods whose `controller-revision-hash` label equals
//!   `status.updateRevision`.
//! - DaemonSet: the pods of the newest ControllerRevision owned by it (highest
//!   `revision`), by its `controller-revision-hash` label. The daemon set
//!   controller names the pods' hash after that revision, so this is the
//!   same set a template comparison would give, without comparing templates.
//!
//! Pods are only looked at once the controller observed the current
//! generation: before that the "new" revision is still the previous one.
//! A new pod in phase Pending (e.g. Unschedulable) for longer than
//! `pending_limit` since its creation counts as failed.
//!
//! Also here: the label selector of a workload, the spinner's status line
//! and one-line renderings of core/v1 Events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_failure::{classify_pod, str_at, ContainerFailure, PodHealth, PodRules};
use super::rollout_verdict::{verdict, Verdict};

/// Knobs of the decision.
#[derive(Debug, Clone)]
pub struct ProgressRules {
    pub pods: PodRules,
    /// How long a new pod may stay Pending before the rollout fails.
    pub pending_limit: Duration,
    /// The rollout only counts once the pod template uses an image containing
    /// this text (e.g. a pinned digest), so a stale status is never Current.
    pub expect_image: Option<String>,
}

/// What the watch has seen of a workload, as JSON objects from the API.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub workload: &'a Value,
    /// ReplicaSets (Deployment) or ControllerRevisions (DaemonSet) matching
    /// the workload's selector; not needed for a StatefulSet.
    pub revisions: &'a [Value],
    /// Pods matching the workload's selector, of any revision.
    pub pods: &'a [Value],
    pub now: DateTime<Utc>,
}

/// One failing pod of the new revision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodFailure {
    pub pod: String,
    pub failures: Vec<ContainerFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Current,
    InProgress {
        reason: String,
    },
    Failed {
        reason: String,
        pods: Vec<PodFailure>,
    },
}

/// The new revision: its name (ReplicaSet, StatefulSet revision or
/// ControllerRevision) and its pods.
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    pub name: String,
    pub pods: Vec<&'a Value>,
}

/// The one decision for `obs`.
pub fn progress(obs: &Observed, rules: &ProgressRules) -> Progress {
    if let Some(wanted) = &rules.expect_image {
        let images = template_images(obs.workload);
        if !images.iter().any(|i| i.contains(wanted.as_str())) {
            return Progress::InProgress {
                reason: format!(
                    "waiting for the pod template to use an image containing `{wanted}` (it uses {})",
                    if images.is_empty() { "none".to_owned() } else { images.join(", ") }
                ),
            };
        }
    }
    let workload_verdict = verdict(obs.workload, &rules.pods);
    if workload_verdict == Verdict::Current {
        return Progress::Current;
    }
    let failing = new_revision(obs)
        .map(|rev| failing_pods(&rev.pods, obs.now, rules))
        .unwrap_or_default();
    match workload_verdict {
        Verdict::Failed { reason } => Progress::Failed {
            reason,
            pods: failing,
        },
        Verdict::InProgress { reason } if failing.is_empty() => Progress::InProgress { reason },
        _ => Progress::Failed {
            reason: failed_pods_reason(&failing),
            pods: failing,
        },
    }
}

/// When a Pending new pod will reach the pending limit (the earliest one):
/// the watch re-evaluates then even if nothing else changes.
pub fn next_pending_deadline(obs: &Observed, rules: &ProgressRules) -> Option<DateTime<Utc>> {
    let limit = chrono_duration(rules.pending_limit);
    new_revision(obs)?
        .pods
        .iter()
        .filter(|p| str_at(&p["status"], "phase") == "Pending")
        .filter_map(|p| created(p).map(|t| t + limit))
        .filter(|t| *t > obs.now)
        .min()
}

/// The new revision and its pods, once the workload's controller observed
/// the current generation; `None` before, or when it cannot be told yet.
pub fn new_revision<'a>(obs: &Observed<'a>) -> Option<NewRevision<'a>> {
    let w = obs.workload;
    let generation = w["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = w["status"]["observedGeneration"].as_i64()?;
    if observed < generation {
        return None;
    }
    let with_label = |key: &str, value: &str| -> Vec<&'a Value> {
        obs.pods
            .iter()
            .filter(|p| p["metadata"]["labels"][key].as_str() == Some(value))
            .collect()
    };
    match str_at(w, "kind") {
        "Deployment" => {
            let revision =
                w["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str()?;
            let rs = owned_by(obs.revisions, w).find(|rs| {
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str()
                    == Some(revision)
            })?;
            let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str()?;
            Some(NewRevision {
                name: str_at(&rs["metadata"], "name").to_owned(),
                pods: with_label("pod-template-hash", hash),
            })
        }
        "StatefulSet" => {
            let revision = w["status"]["updateRevision"].as_str()?;
            Some(NewRevision {
                name: revision.to_owned(),
                pods: with_label("controller-revision-hash", revision),
            })
        }
        "DaemonSet" => {
            let cr =
                owned_by(obs.revisions, w).max_by_key(|cr| cr["revision"].as_i64().unwrap_or(0))?;
            let name = str_at(&cr["metadata"], "name");
            let hash = cr["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .or_else(|| name.strip_prefix(&format!("{}-", str_at(&w["metadata"], "name"))))?;
            Some(NewRevision {
                name: name.to_owned(),
                pods: with_label("controller-revision-hash", hash),
            })
        }
        _ => None,
    }
}

/// Objects among `objects` that `owner` controls (by uid when both have one).
fn owned_by<'v>(objects: &'v [Value], owner: &'v Value) -> impl Iterator<Item = &'v Value> {
    let uid = owner["metadata"]["uid"].as_str();
    objects.iter().filter(move |o| {
        let refs = o["metadata"]["ownerReferences"].as_array();
        match (uid, refs) {
            (Some(uid), Some(refs)) => refs.iter().any(|r| r["uid"].as_str() == Some(uid)),
            // Without uids (hand-written input) the selector match has to do.
            _ => true,
        }
    })
}

fn failing_pods(pods: &[&Value], now: DateTime<Utc>, rules: &ProgressRules) -> Vec<PodFailure> {
    let limit = chrono_duration(rules.pending_limit);
    let mut out: Vec<PodFailure> = pods
        .iter()
        .filter_map(|pod| {
            let failures = match classify_pod(pod, &rules.pods) {
                PodHealth::Failed(failures) => failures,
                PodHealth::Waiting(why) if str_at(&pod["status"], "phase") == "Pending" => {
                    let since = created(pod)?;
                    if now - since <= limit {
                        return None;
                    }
                    vec![ContainerFailure {
                        container: "(pod)".into(),
                        reason: super::pod_failure::PENDING_TOO_LONG.into(),
                        message: format!(
                            "{why}; pending for {}s (limit {}s)",
                            (now - since).num_seconds(),
                            rules.pending_limit.as_secs()
                        ),
                        restarts: 0,
                    }]
                }
                _ => return None,
            };
            Some(PodFailure {
                pod: str_at(&pod["metadata"], "name").to_owned(),
                failures,
            })
        })
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

fn failed_pods_reason(failing: &[PodFailure]) -> String {
    let first = &failing[0];
    let what = first
        .failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    match failing.len() {
        1 => format!("new pod {} failed: {what}", first.pod),
        n => format!("{n} new pods failed; {}: {what}", first.pod),
    }
}

fn created(pod: &Value) -> Option<DateTime<Utc>> {
    let text = pod["metadata"]["creationTimestamp"].as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn chrono_duration(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// The images of the pod template's containers and init containers.
pub fn template_images(workload: &Value) -> Vec<&str> {
    let spec = &workload["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|key| spec[*key].as_array().into_iter().flatten())
        .filter_map(|c| c["image"].as_str())
        .collect()
}

/// The workload's `spec.selector` as a label selector string
/// (`app=web,tier in (a,b)`), for listing its pods and revisions.
pub fn label_selector(workload: &Value) -> Result<String, String> {
    let selector = &workload["spec"]["selector"];
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = str_at(e, "key");
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match str_at(e, "operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("unknown selector operator `{other}` for `{key}`")),
        });
    }
    if parts.is_empty() {
        return Err("spec.selector is empty: it would match every pod in the namespace".into());
    }
    Ok(parts.join(","))
}

/// A short status line for a spinner: `2/3 updated, 1 available`.
pub fn status_line(workload: &Value) -> String {
    let status = &workload["status"];
    let n = |key: &str| status[key].as_i64().unwrap_or(0);
    match str_at(workload, "kind") {
        "Deployment" | "StatefulSet" => {
            let desired = workload["spec"]["replicas"].as_i64().unwrap_or(1);
            let mut line = format!("{}/{desired} updated", n("updatedReplicas"));
            if str_at(workload, "kind") == "Deployment" {
                line += &format!(", {} available", n("availableReplicas"));
                let old = n("replicas") - n("updatedReplicas");
                if old > 0 {
                    line += &format!(", {old} old");
                }
            } else {
                line += &format!(", {} ready", n("readyReplicas"));
            }
            line
        }
        "DaemonSet" => format!(
            "{}/{} updated, {} available",
            n("updatedNumberScheduled"),
            n("desiredNumberScheduled"),
            n("numberAvailable")
        ),
        _ => String::new(),
    }
}

/// The newest time an event carries (RFC 3339, so text order is time order).
pub fn event_time(e: &Value) -> &str {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|k| e[*k].as_str())
        .or_else(|| e["metadata"]["creationTimestamp"].as_str())
        .unwrap_or("")
}

/// `12:00:03 Warning BackOff Pod/web-abc: Back-off restarting failed container (x5)`.
pub fn event_line(e: &Value) -> String {
    let time = event_time(e);
    let clock = time.get(11..19).unwrap_or(time);
    let object = &e["involvedObject"];
    let count = e["count"].as_i64().unwrap_or(1);
    format!(
        "{clock} {} {} {}/{}: {}{}",
        str_at(e, "type"),
        str_at(e, "reason"),
        str_at(object, "kind"),
        str_at(object, "name"),
        str_at(e, "message").trim(),
        if count > 1 {
            format!(" (x{count})")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
#[path = "rollout_progress_tests.rs"]
mod tests;

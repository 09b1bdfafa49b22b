//! Watch a workload roll out: Current, Failed (with the failing pods' reasons,
//! last log lines and recent events) or timed out.
//!
//! Three watches (the workload by name; its ReplicaSets or
//! ControllerRevisions and its pods by its selector) feed one loop that
//! re-evaluates [`progress`] on every event, bounded by
//! the timeout. The only other wake-up is the moment a Pending pod reaches
//! the pending limit, which no event announces.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::chrono::Utc;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::time::Instant;

use forge_adapters::kube::workload::{self as api, Feed};
use forge_core::deploy_config::resolved::Workload;
use forge_core::kube::pod_failure::{str_at, ContainerFailure, PodRules};
use forge_core::kube::rollout_progress::{
    event_line, event_time, label_selector, new_revision, next_pending_deadline, progress,
    status_line, Observed, PodFailure, Progress, ProgressRules,
};

pub const DEFAULT_PENDING_LIMIT: Duration = Duration::from_secs(120);
pub const DEFAULT_LOG_LINES: usize = 20;
/// Failing pods whose logs are fetched (the rest are only listed).
const MAX_PODS_WITH_LOGS: usize = 3;
/// Events shown with a failure or timeout, newest last.
const MAX_EVENTS: usize = 15;

pub struct RolloutRequest {
    pub workload: Workload,
    /// When set, the rollout only counts once the workload's pod template uses an image
    /// containing this string (`forge deploy` passes the pinned digest `sha256:...`): until then
    /// it is InProgress ("waiting for the pod template to use ..."), so a stale Current
    /// from before Flux applied our change is never reported.
    pub expect_image: Option<String>,
    pub timeout: Duration,
    pub rules: PodRules,
    /// How long a new pod may stay Pending (e.g. Unschedulable).
    pub pending_limit: Duration,
    /// Log lines shown per failing container.
    pub log_lines: usize,
}

impl RolloutRequest {
    /// A request with the default rules, pending limit and log lines.
    pub fn new(workload: Workload, timeout: Duration) -> Self {
        Self {
            workload,
            expect_image: None,
            timeout,
            rules: PodRules::default(),
            pending_limit: DEFAULT_PENDING_LIMIT,
            log_lines: DEFAULT_LOG_LINES,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RolloutReport {
    /// `Deployment prod/web`.
    pub workload: String,
    #[serde(flatten)]
    pub outcome: RolloutOutcome,
    #[serde(rename = "elapsed_seconds", serialize_with = "as_seconds")]
    pub elapsed: Duration,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status")]
pub enum RolloutOutcome {
    Current,
    Failed {
        reason: String,
        pods: Vec<FailedPod>,
        events: Vec<String>,
    },
    TimedOut {
        waiting_for: String,
        events: Vec<String>,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedPod {
    pub pod: String,
    pub failures: Vec<ContainerFailure>,
    /// (container, its last log lines); of the crashed run when it restarted.
    #[serde(serialize_with = "logs_as_objects")]
    pub logs: Vec<(String, String)>,
}

/// The watch could not run at all; a failed rollout is an `Ok` report.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{kind:?} {namespace}/{name} not found (check services.<service>.workload in deploy.yaml, the namespace and the kube context)")]
    NotFound {
        kind: forge_core::deploy_config::types::WorkloadKind,
        namespace: String,
        name: String,
    },
    #[error("cannot read {what} from the Kubernetes API")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{workload}: cannot select its pods: {message}")]
    Selector { workload: String, message: String },
}

impl RolloutReport {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, RolloutOutcome::Current)
    }

    /// Human text for stderr.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut out = String::new();
        let events = match &self.outcome {
            RolloutOutcome::Current => {
                return format!("{} rolled out ({secs:.1} s)\n", self.workload);
            }
            RolloutOutcome::Failed {
                reason,
                pods,
                events,
            } => {
                out += &format!(
                    "{} failed to roll out ({secs:.1} s): {reason}\n",
                    self.workload
                );
                for pod in pods {
                    render_pod(&mut out, pod);
                }
                events
            }
            RolloutOutcome::TimedOut {
                waiting_for,
                events,
            } => {
                out += &format!(
                    "{} did not finish rolling out within the timeout ({secs:.1} s); still waiting: {waiting_for}\n",
                    self.workload
                );
                events
            }
        };
        if !events.is_empty() {
            out += "  recent events:\n";
            for e in events {
                out += &format!("    {e}\n");
            }
        }
        out
    }
}

fn render_pod(out: &mut String, pod: &FailedPod) {
    out.push_str(&format!("  pod {}:\n", pod.pod));
    for f in &pod.failures {
        out.push_str(&format!("    {f}\n"));
    }
    for (container, text) in &pod.logs {
        let previous = pod
            .failures
            .iter()
            .any(|f| f.log_container() == Some(container.as_str()) && f.restarts > 0);
        let run = if previous { ", previous run" } else { "" };
        out.push_str(&format!("    last log lines of {container}{run}:\n"));
        let text = text.trim_end();
        if text.is_empty() {
            out.push_str("      (no output)\n");
        }
        for line in text.lines() {
            out.push_str(&format!("      | {line}\n"));
        }
    }
}

/// Watches `req.workload` until it is Current, fails, or `req.timeout` passes.
pub async fn watch_rollout(
    client: &kube::Client,
    req: &RolloutRequest,
    progress_line: &(dyn Fn(&str) + Sync),
) -> Result<RolloutReport, RolloutError> {
    let started = Instant::now();
    let deadline = started + req.timeout;
    let w = &req.workload;
    let label = format!("{:?} {}/{}", w.kind, w.namespace, w.name);
    let first = api::get(client, w.kind, &w.namespace, &w.name)
        .await
        .map_err(|source| RolloutError::Api {
            what: label.clone(),
            source,
        })?
        .ok_or_else(|| RolloutError::NotFound {
            kind: w.kind,
            namespace: w.namespace.clone(),
            name: w.name.clone(),
        })?;
    let selector = label_selector(&first).map_err(|message| RolloutError::Selector {
        workload: label.clone(),
        message,
    })?;
    let rules = ProgressRules {
        pods: req.rules,
        pending_limit: req.pending_limit,
        expect_image: req.expect_image.clone(),
    };
    let mut changes = api::watch(client, w.kind, &w.namespace, &w.name, &selector);
    let mut seen = Seen::default();
    let mut waiting_for = "the first watch events".to_owned();
    let mut wake_up = deadline;
    let mut last_line = String::new();
    let mut last_error = String::new();
    loop {
        match tokio::time::timeout_at(wake_up, changes.next()).await {
            Err(_) if wake_up >= deadline => break,
            // A Pending pod reached its limit: evaluate again.
            Err(_) => {}
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                // The watcher retries with backoff; say it once per distinct error.
                let text = e.to_string();
                if text != last_error {
                    tracing::warn!("watching {label}: {text} (retrying)");
                    last_error = text;
                }
                continue;
            }
            Ok(Some(Ok((feed, event)))) => seen.apply(feed, event),
        }
        if !seen.ready() {
            continue;
        }
        let Some(workload) = seen.workload.live.values().next() else {
            waiting_for = format!("{label} to exist again (it was deleted)");
            continue;
        };
        let revisions: Vec<Value> = seen.revisions.live.values().cloned().collect();
        let pods: Vec<Value> = seen.pods.live.values().cloned().collect();
        let obs = Observed {
            workload,
            revisions: &revisions,
            pods: &pods,
            now: Utc::now(),
        };
        match progress(&obs, &rules) {
            Progress::Current => {
                return Ok(RolloutReport {
                    workload: label,
                    outcome: RolloutOutcome::Current,
                    elapsed: started.elapsed(),
                });
            }
            Progress::Failed {
                reason,
                pods: failing,
            } => {
                let events = recent_events(client, &obs, &failing).await;
                let pods = with_logs(client, &w.namespace, failing, req.log_lines).await;
                return Ok(RolloutReport {
                    workload: label,
                    outcome: RolloutOutcome::Failed {
                        reason,
                        pods,
                        events,
                    },
                    elapsed: started.elapsed(),
                });
            }
            Progress::InProgress { reason } => {
                let line = match status_line(workload) {
                    s if s.is_empty() => reason.clone(),
                    s => format!("{s}: {reason}"),
                };
                if line != last_line {
                    progress_line(&line);
                    tracing::debug!("{label}: {line}");
                    last_line = line;
                }
                waiting_for = reason;
                wake_up = next_pending_deadline(&obs, &rules)
                    .and_then(|t| (t - obs.now).to_std().ok())
                    .map_or(deadline, |d| deadline.min(Instant::now() + d));
            }
        }
    }
    let events = match seen.workload.live.values().next() {
        Some(workload) => {
            let (revisions, pods): (Vec<Value>, Vec<Value>) = (
                seen.revisions.live.values().cloned().collect(),
                seen.pods.live.values().cloned().collect(),
            );
            let obs = Observed {
                workload,
                revisions: &revisions,
                pods: &pods,
                now: Utc::now(),
            };
            recent_events(client, &obs, &[]).await
        }
        None => vec![],
    };
    Ok(RolloutReport {
        workload: label,
        outcome: RolloutOutcome::TimedOut {
            waiting_for,
            events,
        },
        elapsed: started.elapsed(),
    })
}

/// What the three watches have seen, by object name.
#[derive(Default)]
struct Seen {
    workload: Cache,
    revisions: Cache,
    pods: Cache,
}

impl Seen {
    fn apply(&mut self, feed: Feed, event: watcher::Event<Value>) {
        match feed {
            Feed::Workload => self.workload.apply(event),
            Feed::Revisions => self.revisions.apply(event),
            Feed::Pods => self.pods.apply(event),
        }
    }

    /// Every watch has listed once: before that, a decision could miss pods.
    fn ready(&self) -> bool {
        self.workload.ready && self.revisions.ready && self.pods.ready
    }
}

/// One watch's objects; a re-list replaces them at once (at `InitDone`).
#[derive(Default)]
struct Cache {
    live: BTreeMap<String, Value>,
    relisting: Option<BTreeMap<String, Value>>,
    ready: bool,
}

impl Cache {
    fn apply(&mut self, event: watcher::Event<Value>) {
        let name = |o: &Value| str_at(&o["metadata"], "name").to_owned();
        match event {
            watcher::Event::Apply(o) => {
                self.live.insert(name(&o), o);
            }
            watcher::Event::Delete(o) => {
                self.live.remove(&name(&o));
            }
            watcher::Event::Init => self.relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(o) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(name(&o), o);
            }
            watcher::Event::InitDone => {
                self.live = self.relisting.take().unwrap_or_default();
                self.ready = true;
            }
        }
    }
}

async fn with_logs(
    client: &kube::Client,
    namespace: &str,
    failing: Vec<PodFailure>,
    lines: usize,
) -> Vec<FailedPod> {
    let mut out = Vec::new();
    for (n, pod) in failing.into_iter().enumerate() {
        let mut logs = Vec::new();
        for f in pod.failures.iter().filter(|_| n < MAX_PODS_WITH_LOGS) {
            let Some(container) = f.log_container() else {
                continue;
            };
            let previous = f.restarts > 0;
            let mut text =
                api::container_logs(client, namespace, &pod.pod, container, previous, lines).await;
            if previous && text.is_err() {
                // No previous run kept (e.g. the pod was recreated): the current one.
                text =
                    api::container_logs(client, namespace, &pod.pod, container, false, lines).await;
            }
            let text = text.unwrap_or_else(|e| format!("(logs unavailable: {e})"));
            logs.push((container.to_owned(), text));
        }
        out.push(FailedPod {
            pod: pod.pod,
            failures: pod.failures,
            logs,
        });
    }
    out
}

/// Events about the workload, its new ReplicaSet and `failing` pods, oldest
/// first, at most [`MAX_EVENTS`]. Unreadable events are logged, not fatal.
async fn recent_events(
    client: &kube::Client,
    obs: &Observed<'_>,
    failing: &[PodFailure],
) -> Vec<String> {
    let w = obs.workload;
    let namespace = str_at(&w["metadata"], "namespace");
    let mut subjects = vec![(
        str_at(w, "kind").to_owned(),
        str_at(&w["metadata"], "name").to_owned(),
    )];
    if str_at(w, "kind") == "Deployment" {
        if let Some(rev) = new_revision(obs) {
            subjects.push(("ReplicaSet".into(), rev.name));
        }
    }
    subjects.extend(
        failing
            .iter()
            .take(5)
            .map(|p| ("Pod".into(), p.pod.clone())),
    );
    let mut events = Vec::new();
    for (kind, name) in &subjects {
        match api::events_about(client, namespace, kind, name).await {
            Ok(found) => events.extend(found),
            Err(e) => tracing::warn!("cannot read events of {kind} {namespace}/{name}: {e}"),
        }
    }
    events.sort_by_key(|e| event_time(e).to_owned());
    let skip = events.len().saturating_sub(MAX_EVENTS);
    events[skip..].iter().map(event_line).collect()
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
}

fn logs_as_objects<S: serde::Serializer>(
    logs: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        logs.iter()
            .map(|(container, lines)| serde_json::json!({"container": container, "lines": lines})),
    )
}

#[cfg(test)]
#[path = "watch_rollout_tests.rs"]
mod tests;

//! Which pod states doom a rollout and which only delay it.
//!
//! kubectl never looks at pods and kstatus knows only CrashLoopBackOff, so a
//! bad image stays "in progress" until the progress deadline (10 minutes by
//! default). These rules read the container states of a pod (as JSON, from
//! the API or a file) and name the container and the kubelet's message:
//!
//! - failures: CrashLoopBackOff once the container restarted at least
//!   `crashloop_restarts` times; ImagePullBackOff, ErrImagePull,
//!   ErrImageNeverPull, InvalidImageName, CreateContainerConfigError,
//!   CreateContainerError, RunContainerError (waiting reasons); OOMKilled as
//!   the current or last termination; a pod phase Failed for another reason.
//! - not failures: Evicted, Preempting, NodeLost, Shutdown and Terminated pods
//!   (their controller replaces them), a pod being deleted, Pending (also
//!   unschedulable: the watch decides how long is too long), a crash loop
//!   below the restart threshold.

use serde_json::Value;

/// Knobs of the classification.
#[derive(Debug, Clone, Copy)]
pub struct PodRules {
    /// Restarts after which CrashLoopBackOff counts as a failure.
    pub crashloop_restarts: u64,
}

pub const DEFAULT_CRASHLOOP_RESTARTS: u64 = 3;

impl Default for PodRules {
    fn default() -> Self {
        Self {
            crashloop_restarts: DEFAULT_CRASHLOOP_RESTARTS,
        }
    }
}

/// Waiting reasons that fail a rollout at once.
const FATAL_WAITING: [&str; 7] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Pod-level reasons for pods that are gone but will be replaced.
const TRANSIENT_POD_REASONS: [&str; 5] = [
    "Evicted",
    "Preempting",
    "NodeLost",
    "Shutdown",
    "Terminated",
];

/// The reason a rollout gives a pod Pending for too long (not kubelet's).
pub const PENDING_TOO_LONG: &str = "PendingTooLong";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerFailure {
    /// `app`, or `init:migrate` for an init container.
    pub container: String,
    pub reason: String,
    pub message: String,
    pub restarts: u64,
}

impl ContainerFailure {
    /// The container whose logs explain this failure (without `init:`), if it
    /// ever ran: a container that never started (its image or configuration
    /// is the problem, or it was never scheduled) has no logs to show.
    pub fn log_container(&self) -> Option<&str> {
        let never_ran = self.reason == PENDING_TOO_LONG
            || (self.reason != "RunContainerError"
                && FATAL_WAITING.contains(&self.reason.as_str()));
        if self.container == "(pod)" || (self.restarts == 0 && never_ran) {
            return None;
        }
        Some(
            self.container
                .strip_prefix("init:")
                .unwrap_or(&self.container),
        )
    }
}

impl std::fmt::Display for ContainerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "container {}: {}", self.container, self.reason)?;
        match self.restarts {
            0 => {}
            1 => f.write_str(" (restarted once)")?,
            n => write!(f, " (restarted {n} times)")?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodHealth {
    /// Running with all containers ready, or completed successfully.
    Healthy,
    /// At least one container (or the pod) failed in a way retries do not fix.
    Failed(Vec<ContainerFailure>),
    /// Gone or going, and replaced by its controller: not a failure.
    Transient(String),
    /// Not there yet (pending, starting, not ready, crash loop below the threshold).
    Waiting(String),
}

pub fn classify_pod(pod: &Value, rules: &PodRules) -> PodHealth {
    let status = &pod["status"];
    let pod_reason = str_at(status, "reason");
    if TRANSIENT_POD_REASONS.contains(&pod_reason) {
        return PodHealth::Transient(join_reason(pod_reason, str_at(status, "message")));
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return PodHealth::Transient("being deleted".into());
    }
    let mut failures = Vec::new();
    let mut waiting = Vec::new();
    for (prefix, key) in [
        ("init:", "initContainerStatuses"),
        ("", "containerStatuses"),
    ] {
        for c in status[key].as_array().into_iter().flatten() {
            let name = format!("{prefix}{}", str_at(c, "name"));
            match container_failure(c, &name, rules) {
                Ok(Some(f)) => failures.push(f),
                Ok(None) => {}
                Err(w) => waiting.push(w),
            }
        }
    }
    if !failures.is_empty() {
        return PodHealth::Failed(failures);
    }
    match str_at(status, "phase") {
        "Succeeded" => PodHealth::Healthy,
        "Failed" => PodHealth::Failed(failed_pod(status, pod_reason)),
        "Running" if condition_true(status, "Ready") => PodHealth::Healthy,
        phase => {
            let mut why = match condition(status, "PodScheduled") {
                Some(c) if str_at(c, "status") == "False" => vec![join_reason(
                    non_empty(str_at(c, "reason"), "not scheduled"),
                    str_at(c, "message"),
                )],
                _ => vec![],
            };
            why.extend(waiting);
            let phase = non_empty(phase, "Unknown");
            if why.is_empty() {
                PodHealth::Waiting(format!("{phase}, not ready"))
            } else {
                PodHealth::Waiting(format!("{phase}: {}", why.join("; ")))
            }
        }
    }
}

/// Why a pod in phase Failed failed: its containers that exited non-zero,
/// else the pod's own reason.
fn failed_pod(status: &Value, pod_reason: &str) -> Vec<ContainerFailure> {
    let mut out = Vec::new();
    for (prefix, key) in [
        ("init:", "initContainerStatuses"),
        ("", "containerStatuses"),
    ] {
        for c in status[key].as_array().into_iter().flatten() {
            let term = &c["state"]["terminated"];
            if term["exitCode"].as_i64().is_some_and(|code| code != 0) {
                out.push(ContainerFailure {
                    container: format!("{prefix}{}", str_at(c, "name")),
                    reason: non_empty(str_at(term, "reason"), "Terminated").to_owned(),
                    message: with_last_exit(String::new(), term).replacen(
                        "last termination",
                        "terminated",
                        1,
                    ),
                    restarts: c["restartCount"].as_u64().unwrap_or(0),
                });
            }
        }
    }
    if out.is_empty() {
        out.push(ContainerFailure {
            container: "(pod)".into(),
            reason: format!(
                "phase Failed{}",
                if pod_reason.is_empty() {
                    String::new()
                } else {
                    format!(", {pod_reason}")
                }
            ),
            message: str_at(status, "message").into(),
            restarts: 0,
        });
    }
    out
}

/// `Ok(Some)` for a failure, `Err(text)` for a harmless wait.
fn container_failure(
    c: &Value,
    name: &str,
    rules: &PodRules,
) -> Result<Option<ContainerFailure>, String> {
    let restarts = c["restartCount"].as_u64().unwrap_or(0);
    let fail = |reason: &str, message: String| {
        Ok(Some(ContainerFailure {
            container: name.to_owned(),
            reason: reason.to_owned(),
            message,
            restarts,
        }))
    };
    let state = &c["state"];
    let last = &c["lastState"]["terminated"];
    if let Some(w) = state["waiting"].as_object() {
        let reason = w.get("reason").and_then(Value::as_str).unwrap_or("");
        let message = w
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if FATAL_WAITING.contains(&reason) {
            return fail(reason, message);
        }
        if reason == "CrashLoopBackOff" {
            if restarts >= rules.crashloop_restarts {
                return fail(reason, with_last_exit(message, last));
            }
            return Err(format!(
                "container {name} is crash-looping ({restarts} of {} restarts allowed)",
                rules.crashloop_restarts
            ));
        }
        if str_at(last, "reason") == "OOMKilled" {
            return fail("OOMKilled", with_last_exit(message, last));
        }
        return Err(format!(
            "container {name}: {}",
            non_empty(reason, "waiting")
        ));
    }
    let term = &state["terminated"];
    if str_at(term, "reason") == "OOMKilled" {
        return fail("OOMKilled", with_last_exit(String::new(), term));
    }
    let ready = c["ready"].as_bool().unwrap_or(false);
    if str_at(last, "reason") == "OOMKilled" && !ready {
        return fail("OOMKilled", with_last_exit(String::new(), last));
    }
    if state["running"].is_object() && !ready {
        return Err(format!("container {name} is running, not ready"));
    }
    Ok(None)
}

/// Appends `last termination: Error, exit code 1` and its message.
fn with_last_exit(message: String, terminated: &Value) -> String {
    if !terminated.is_object() {
        return message;
    }
    let mut parts = Vec::new();
    if !message.is_empty() {
        parts.push(message);
    }
    let mut last = format!(
        "last termination: {}",
        non_empty(str_at(terminated, "reason"), "unknown")
    );
    if let Some(code) = terminated["exitCode"].as_i64() {
        last.push_str(&format!(", exit code {code}"));
    }
    let detail = str_at(terminated, "message").trim();
    if !detail.is_empty() {
        last.push_str(&format!(" ({detail})"));
    }
    parts.push(last);
    parts.join("; ")
}

pub fn str_at<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or("")
}

fn non_empty<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

pub fn join_reason(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (_, true) => reason.to_owned(),
        (true, false) => message.to_owned(),
        (false, false) => format!("{reason}: {message}"),
    }
}

/// The condition of `type` in `status.conditions`.
pub fn condition<'v>(status: &'v Value, kind: &str) -> Option<&'v Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| str_at(c, "type") == kind)
}

pub fn condition_true(status: &Value, kind: &str) -> bool {
    condition(status, kind).is_some_and(|c| str_at(c, "status") == "True")
}

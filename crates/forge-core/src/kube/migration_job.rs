//! A migration as a Kubernetes Job: its deterministic name, its manifest,
//! and when it is done.
//!
//! The name is derived from the run and the step, so a resumed run finds the
//! Job it created before a crash (and waits for it) instead of creating a
//! second one; a new run gets a new Job. `backoffLimit: 0`: a failed
//! migration is reported, never silently retried against a half-migrated
//! database.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::pod_failure::{classify_pod, ContainerFailure, PodHealth, PodRules};

/// Label on the Job and its pods: the run that created it.
pub const RUN_LABEL: &str = "forge.dev/run";
/// Label on the Job and its pods: the migration's step key, `/` as `.`.
pub const STEP_LABEL: &str = "forge.dev/step";
/// The container running the migration.
pub const CONTAINER: &str = "migrate";

/// What the Job runs.
#[derive(Debug, Clone)]
pub struct MigrationJob<'a> {
    pub run: &'a str,
    /// The step key, e.g. `api/staging/migrate-before`.
    pub step: &'a str,
    pub service: &'a str,
    pub migration: &'a str,
    pub namespace: &'a str,
    /// The image by digest.
    pub image: &'a str,
    pub command: &'a [String],
    pub timeout_seconds: u64,
    pub env_from_secret: Option<&'a str>,
    pub env_from_config_map: Option<&'a str>,
}

impl MigrationJob<'_> {
    /// `<service>-<migration>-<8 hex of run and step>`, at most 63 characters
    /// (the Job controller puts it in a label).
    pub fn name(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}\n{}", self.run, self.step, self.migration));
        let suffix = &hex::encode(digest)[..10];
        let mut prefix = format!("{}-{}", self.service, self.migration);
        prefix.truncate(63 - 1 - suffix.len());
        let prefix = prefix.trim_end_matches('-');
        format!("{prefix}-{suffix}")
    }

    /// The Job object (batch/v1), ready to create.
    pub fn manifest(&self) -> Value {
        let labels = json!({
            RUN_LABEL: label_value(self.run),
            STEP_LABEL: label_value(&self.step.replace('/', ".")),
            "app.kubernetes.io/managed-by": "forge",
        });
        let mut env_from = Vec::new();
        if let Some(secret) = self.env_from_secret {
            env_from.push(json!({ "secretRef": { "name": secret } }));
        }
        if let Some(map) = self.env_from_config_map {
            env_from.push(json!({ "configMapRef": { "name": map } }));
        }
        let mut container = json!({
            "name": CONTAINER,
            "image": self.image,
            "command": self.command,
            "env": [
                { "name": "FORGE_SERVICE", "value": self.service },
                { "name": "FORGE_MIGRATION", "value": self.migration },
                { "name": "FORGE_RUN", "value": self.run },
            ],
        });
        if !env_from.is_empty() {
            container["envFrom"] = Value::Array(env_from);
        }
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": self.name(),
                "namespace": self.namespace,
                "labels": labels,
            },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": self.timeout_seconds,
                // Kept a day for `kubectl logs`, then collected.
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [container],
                    },
                },
            },
        })
    }
}

/// Label values: at most 63 characters of `[A-Za-z0-9._-]`.
fn label_value(text: &str) -> String {
    let mut v: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    v.truncate(63);
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Where a migration Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobVerdict {
    Running,
    Succeeded,
    /// The Job failed (or one of its pods can never succeed): why, and the
    /// pod whose logs tell more.
    Failed {
        reason: String,
        pod: Option<String>,
    },
}

/// The verdict from the Job and its pods (as JSON). A pod that cannot start
/// (bad image, missing Secret) fails the migration at once rather than at the
/// deadline.
pub fn job_verdict(job: &Value, pods: &[Value]) -> JobVerdict {
    let conditions = job["status"]["conditions"].as_array();
    let condition = |kind: &str| {
        conditions.and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == kind && c["status"] == "True")
        })
    };
    let failed_pod = pods.iter().find_map(|p| {
        let name = p["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match classify_pod(p, &PodRules::default()) {
            PodHealth::Failed(f) => Some((name, f)),
            _ if p["status"]["phase"] == "Failed" => Some((name, vec![])),
            _ => None,
        }
    });
    if condition("Complete").is_some() || condition("SuccessCriteriaMet").is_some() {
        return JobVerdict::Succeeded;
    }
    if let Some(c) = condition("Failed").or_else(|| condition("FailureTarget")) {
        let mut reason = join(
            c["reason"].as_str().unwrap_or("Failed"),
            c["message"].as_str().unwrap_or(""),
        );
        if let Some((_, failures)) = &failed_pod {
            if let Some(f) = failures.first() {
                reason = format!("{reason}; {}", describe(f));
            }
        }
        return JobVerdict::Failed {
            reason,
            pod: failed_pod.map(|(name, _)| name),
        };
    }
    match failed_pod {
        Some((pod, failures)) if !failures.is_empty() => JobVerdict::Failed {
            reason: describe(&failures[0]),
            pod: Some(pod),
        },
        _ => JobVerdict::Running,
    }
}

fn describe(f: &ContainerFailure) -> String {
    join(
        &format!("container {} {}", f.container, f.reason),
        &f.message,
    )
}

fn join(reason: &str, message: &str) -> String {
    if message.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<'a>(run: &'a str, step: &'a str, command: &'a [String]) -> MigrationJob<'a> {
        MigrationJob {
            run,
            step,
            service: "api",
            migration: "migrate",
            namespace: "staging",
            image: "r/api@sha256:ab",
            command,
            timeout_seconds: 600,
            env_from_secret: Some("api-db"),
            env_from_config_map: None,
        }
    }

    #[test]
    fn names_are_deterministic_per_run_and_step_and_fit_a_label() {
        let cmd = vec!["api".to_owned(), "migrate".to_owned()];
        let a = job("run-1", "api/staging/migrate-before", &cmd);
        assert_eq!(a.name(), a.name());
        assert!(a.name().starts_with("api-migrate-"), "{}", a.name());
        let b = job("run-2", "api/staging/migrate-before", &cmd);
        assert_ne!(a.name(), b.name());
        let c = job("run-1", "api/staging/migrate-after", &cmd);
        assert_ne!(a.name(), c.name());
        let long = "s".repeat(63);
        let mut d = job("run-1", "x", &cmd);
        d.service = &long;
        assert!(d.name().len() <= 63, "{}", d.name());
        assert!(!d.name().contains("--"));
    }

    #[test]
    fn the_manifest_never_retries_and_has_the_deadline() {
        let cmd = vec!["api".to_owned(), "migrate".to_owned()];
        let m = job("run-1", "api/staging/migrate-before", &cmd).manifest();
        assert_eq!(m["spec"]["backoffLimit"], 0);
        assert_eq!(m["spec"]["activeDeadlineSeconds"], 600);
        let pod = &m["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["containers"][0]["command"], json!(["api", "migrate"]));
        assert_eq!(
            pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
            "api-db"
        );
        assert_eq!(
            m["metadata"]["labels"][STEP_LABEL],
            "api.staging.migrate-before"
        );
    }

    #[test]
    fn verdicts_follow_the_job_conditions_and_fatal_pods() {
        let running = json!({"status": {"active": 1}});
        assert_eq!(job_verdict(&running, &[]), JobVerdict::Running);
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(job_verdict(&done, &[]), JobVerdict::Succeeded);
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        let pod = json!({"metadata": {"name": "p1"}, "status": {"phase": "Failed", "containerStatuses": [{"name": "migrate", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
        match job_verdict(&failed, std::slice::from_ref(&pod)) {
            JobVerdict::Failed { reason, pod } => {
                assert!(reason.starts_with("BackoffLimitExceeded"), "{reason}");
                assert_eq!(pod.as_deref(), Some("p1"));
            }
            v => panic!("{v:?}"),
        }
        let stuck = json!({"metadata": {"name": "p2"}, "status": {"phase": "Pending", "containerStatuses": [{"name": "migrate", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}});
        match job_verdict(&running, &[stuck]) {
            JobVerdict::Failed { reason, .. } => {
                assert!(reason.contains("ImagePullBackOff"), "{reason}")
            }
            v => panic!("{v:?}"),
        }
    }
}

//! Has Flux applied our commit yet? Pure rules over the GitRepository and
//! Kustomization JSON, kept apart from the watch loop.
//!
//! We write a token into `reconcile.fluxcd.io/requestedAt`; the controllers
//! copy it to `status.lastHandledReconcileAt` in the same status patch that
//! records the outcome of that run. So only a status carrying our token
//! says anything about our request; anything else is stale.
//!
//! GitRepository (source-controller v1), in order:
//! - `spec.suspend` → suspended; being deleted → failed.
//! - token not handled yet (neither ours nor a later one) → waiting.
//! - `Stalled=True` → failed with its message.
//! - `Ready` from an older generation → waiting.
//! - `Ready=True` and `status.artifact.revision` carries the commit (or an
//!   accepted descendant; with no commit, any revision) → fetched.
//! - `Ready=False` (e.g. GitOperationFailed with `FetchFailed=True`) → failed:
//!   the controller wrote it for our request.
//! - otherwise waiting, showing Flux's latest message.
//!
//! Kustomization (kustomize-controller v1), once the source is fetched:
//! - suspended, deleted, token not handled, `Stalled=True`, stale `Ready`: as above.
//! - `Ready=True`, `status.observedGeneration == generation` and
//!   `lastAppliedRevision` carries the fetched revision, the commit or an
//!   accepted descendant → applied.
//! - `Ready=False` with a reason Flux retries on its own (DependencyNotReady,
//!   HealthCheckCanceled, Progressing, ProgressingWithRetry) → waiting. Any other reason
//!   (BuildFailed, HealthCheckFailed, ReconciliationFailed, ArtifactFailed,
//!   PruneFailed…) → failed, but only once `lastAttemptedRevision` is ours:
//!   a failure of an older revision says nothing about our commit. (A
//!   missing `spec.path` fails before that field is written, so its
//!   ArtifactFailed counts without it.)
//!
//! Revisions look like `main@sha1:<hex>`, `sha1:<hex>` or the legacy
//! `main/<hex>`; the hash is the text after the last `:` (or `/`).

use serde_json::Value;

use super::pod_failure::{condition, condition_true, join_reason, str_at};

/// The Flux objects Forge reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FluxKind {
    GitRepository,
    Kustomization,
}

impl FluxKind {
    /// How the `flux` CLI names the kind (`flux resume <this> NAME`).
    pub fn flux_cli_name(self) -> &'static str {
        match self {
            FluxKind::GitRepository => "source git",
            FluxKind::Kustomization => "kustomization",
        }
    }
}

impl std::fmt::Display for FluxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FluxKind::GitRepository => "GitRepository",
            FluxKind::Kustomization => "Kustomization",
        })
    }
}

/// The revision we wait for.
pub struct Wanted<'a> {
    /// The commit SHA (full, or abbreviated to at least 7 hex digits);
    /// `None` = whatever the source fetches for our request.
    pub commit: Option<&'a str>,
    /// Accepts a revision hash that is not `commit`, e.g. a descendant.
    pub accept: &'a (dyn Fn(&str) -> bool + Sync),
}

impl Wanted<'_> {
    fn is_commit(&self, hash: &str) -> bool {
        self.commit.is_some_and(|c| same_commit(hash, c))
    }

    /// `hash` is the commit or accepted in its place.
    fn accepts(&self, hash: &str) -> bool {
        !hash.is_empty() && (self.is_commit(hash) || (self.commit.is_some() && (self.accept)(hash)))
    }
}

/// Reasons of `Ready=False` a Kustomization retries on its own, not failures of our commit.
pub const RETRIED_REASONS: &[&str] = &[
    "DependencyNotReady",
    "HealthCheckCanceled",
    "Progressing",
    "ProgressingWithRetry",
];

/// The start of kustomize-controller's message when `spec.path` is not in the
/// artifact: it fails before recording `lastAttemptedRevision`, so this
/// failure counts without it (the source already holds our revision).
const PATH_NOT_FOUND: &str = "kustomization path not found";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum FluxProgress {
    /// The GitRepository has not fetched our commit yet; `detail` says what
    /// is missing, e.g. "GitRepository ns/name to fetch abc1234 (…)".
    WaitingForSource {
        detail: String,
    },
    /// The source has `source_revision`; the Kustomization has not applied it yet.
    WaitingForKustomization {
        source_revision: String,
        detail: String,
    },
    /// The Kustomization applied `revision` (as Flux writes it), Ready at its generation.
    Applied {
        source_revision: String,
        revision: String,
    },
    /// Flux failed our request; `message` is Flux's.
    Failed {
        kind: FluxKind,
        reason: String,
        message: String,
    },
    Suspended {
        kind: FluxKind,
    },
}

/// What the GitRepository has done with our request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceProgress {
    Waiting(String),
    Fetched(String),
    Failed { reason: String, message: String },
    Suspended,
}

/// Where the pair stands for `token` and `wanted`.
pub fn progress(
    source: &Value,
    kustomization: &Value,
    token: &str,
    wanted: &Wanted,
) -> FluxProgress {
    let source_revision = match source_progress(source, token, wanted) {
        SourceProgress::Waiting(detail) => return FluxProgress::WaitingForSource { detail },
        SourceProgress::Failed { reason, message } => {
            return FluxProgress::Failed {
                kind: FluxKind::GitRepository,
                reason,
                message,
            }
        }
        SourceProgress::Suspended => {
            return FluxProgress::Suspended {
                kind: FluxKind::GitRepository,
            }
        }
        SourceProgress::Fetched(revision) => revision,
    };
    kustomization_progress(kustomization, token, &source_revision, wanted)
}

/// The GitRepository's side of [`progress`].
pub fn source_progress(source: &Value, token: &str, wanted: &Wanted) -> SourceProgress {
    let status = &source["status"];
    let target = match wanted.commit {
        Some(c) => short(c).to_owned(),
        None => "its latest revision".to_owned(),
    };
    let has = str_at(&status["artifact"], "revision");
    let waiting = |what: String| {
        SourceProgress::Waiting(format!(
            "{} to {what}{}",
            describe(FluxKind::GitRepository, source),
            latest(status, has)
        ))
    };
    if source["spec"]["suspend"] == Value::Bool(true) {
        return SourceProgress::Suspended;
    }
    if is_deleting(source) {
        return SourceProgress::Failed {
            reason: DELETING.to_owned(),
            message: BEING_DELETED.to_owned(),
        };
    }
    if !handled(status, token) {
        return waiting(format!("handle our reconcile request and fetch {target}"));
    }
    if let Some(c) = stalled(status) {
        return SourceProgress::Failed {
            reason: str_at(c, "reason").to_owned(),
            message: str_at(c, "message").to_owned(),
        };
    }
    let Some(ready) = current_ready(source) else {
        return waiting(format!(
            "report Ready for generation {}",
            generation(source)
        ));
    };
    match str_at(ready, "status") {
        "True" => {
            let hash = revision_hash(has);
            if (wanted.commit.is_none() && !hash.is_empty()) || wanted.accepts(hash) {
                SourceProgress::Fetched(has.to_owned())
            } else {
                waiting(format!("fetch {target}"))
            }
        }
        "False" => SourceProgress::Failed {
            reason: str_at(ready, "reason").to_owned(),
            message: str_at(ready, "message").to_owned(),
        },
        _ => waiting(format!("fetch {target}")),
    }
}

/// The Kustomization's side of [`progress`], once the source has `source_revision`.
pub fn kustomization_progress(
    kustomization: &Value,
    token: &str,
    source_revision: &str,
    wanted: &Wanted,
) -> FluxProgress {
    let status = &kustomization["status"];
    let fetched = revision_hash(source_revision);
    let ours = |revision: &str| {
        let hash = revision_hash(revision);
        !hash.is_empty() && (same_commit(hash, fetched) || wanted.accepts(hash))
    };
    let applied = str_at(status, "lastAppliedRevision");
    let attempted = str_at(status, "lastAttemptedRevision");
    let waiting = |what: &str| FluxProgress::WaitingForKustomization {
        source_revision: source_revision.to_owned(),
        detail: format!(
            "{} to {what} {}{}",
            describe(FluxKind::Kustomization, kustomization),
            short(fetched),
            latest(status, applied)
        ),
    };
    let failed = |c: &Value| FluxProgress::Failed {
        kind: FluxKind::Kustomization,
        reason: str_at(c, "reason").to_owned(),
        message: str_at(c, "message").to_owned(),
    };
    if kustomization["spec"]["suspend"] == Value::Bool(true) {
        return FluxProgress::Suspended {
            kind: FluxKind::Kustomization,
        };
    }
    if is_deleting(kustomization) {
        return FluxProgress::Failed {
            kind: FluxKind::Kustomization,
            reason: DELETING.to_owned(),
            message: BEING_DELETED.to_owned(),
        };
    }
    if !handled(status, token) {
        return waiting("handle our reconcile request and apply");
    }
    if let Some(c) = stalled(status) {
        return failed(c);
    }
    let Some(ready) = current_ready(kustomization) else {
        return waiting("report Ready for its generation, then apply");
    };
    match str_at(ready, "status") {
        "True"
            if ours(applied)
                && status["observedGeneration"] == kustomization["metadata"]["generation"] =>
        {
            FluxProgress::Applied {
                source_revision: source_revision.to_owned(),
                revision: applied.to_owned(),
            }
        }
        "False"
            if !RETRIED_REASONS.contains(&str_at(ready, "reason"))
                && (ours(attempted) || str_at(ready, "message").starts_with(PATH_NOT_FOUND)) =>
        {
            failed(ready)
        }
        _ => waiting("apply"),
    }
}

/// The hash part of a Flux revision (`main@sha1:abc…` → `abc…`).
pub fn revision_hash(revision: &str) -> &str {
    let after_at = revision.rsplit('@').next().unwrap_or(revision);
    match after_at.rsplit_once(':') {
        Some((_, hash)) => hash,
        None => after_at.rsplit('/').next().unwrap_or(after_at),
    }
}

/// A hash abbreviated for progress lines.
pub fn short(hash: &str) -> &str {
    hash.get(..7).unwrap_or(hash)
}

/// Whether the controller handled our request: the status carries our
/// token, or a later one in the same RFC 3339 UTC form (another deploy asked
/// after us, so the run that handled it started after our commit was
/// pushed: it saw at least what we did, and the revision checks decide).
/// Without this, deploys reconciling one object at once overwrite each
/// other's tokens and all but the last wait forever.
fn handled(status: &Value, token: &str) -> bool {
    let seen = str_at(status, "lastHandledReconcileAt");
    let comparable =
        |t: &str| t.len() == token.len() && t.ends_with('Z') && t.as_bytes().get(4) == Some(&b'-');
    seen == token || (comparable(seen) && comparable(token) && seen > token)
}

/// `hash` (full) is `commit`, which may be abbreviated (7+ hex digits).
pub fn same_commit(hash: &str, commit: &str) -> bool {
    commit.len() >= 7
        && hash.len() >= commit.len()
        && hash[..commit.len()].eq_ignore_ascii_case(commit)
}

fn describe(kind: FluxKind, obj: &Value) -> String {
    let meta = &obj["metadata"];
    format!(
        "{kind} {}/{}",
        str_at(meta, "namespace"),
        str_at(meta, "name")
    )
}

fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// The Ready condition, unless it was written for an older generation.
fn current_ready(obj: &Value) -> Option<&Value> {
    let ready = condition(&obj["status"], "Ready")?;
    let observed = ready["observedGeneration"]
        .as_i64()
        .or_else(|| obj["status"]["observedGeneration"].as_i64())?;
    (observed >= generation(obj)).then_some(ready)
}

fn stalled(status: &Value) -> Option<&Value> {
    condition_true(status, "Stalled").then(|| condition(status, "Stalled"))?
}

const DELETING: &str = "Deleting";
const BEING_DELETED: &str = "the object is being deleted";

fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// What the object shows now, for progress lines and timeouts:
/// ` (has main@sha1:abc1234; Ready=False BuildFailed: …)`.
fn latest(status: &Value, revision: &str) -> String {
    let mut parts = Vec::new();
    if !revision.is_empty() {
        parts.push(format!("has {revision}"));
    }
    if let Some(ready) = condition(status, "Ready") {
        let said = join_reason(str_at(ready, "reason"), str_at(ready, "message"));
        parts.push(format!("Ready={} {said}", str_at(ready, "status")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

#[cfg(test)]
#[path = "flux_progress_tests.rs"]
mod tests;

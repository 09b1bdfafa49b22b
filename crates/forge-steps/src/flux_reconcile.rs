//! Ask Flux to reconcile and wait for our commit: annotate the GitRepository,
//! wait until it fetched our commit for our token, then annotate the
//! Kustomization and wait until it applied it (Ready at its generation).
//!
//! Both objects are watched from before the first annotation, and every event
//! re-evaluates [`flux_progress::progress`]; the loop fails as soon as Flux
//! reports a failure for our request instead of running into the timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt as _};
use k8s_openapi::chrono::{SecondsFormat, Utc};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::time::Instant;

use forge_adapters::kube::flux;
use forge_core::deploy_config::resolved::ObjectRef;
use forge_core::kube::flux_progress::{self, FluxKind, FluxProgress, Wanted};

/// Answers "does this revision SHA count as ours?".
pub type AcceptRevision = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub struct FluxRequest {
    /// The GitRepository.
    pub source: ObjectRef,
    /// The Kustomization.
    pub kustomization: ObjectRef,
    /// Full SHA of the commit we pushed (an abbreviation of 7+ digits also
    /// matches); `None` = whatever the source fetches now.
    pub commit: Option<String>,
    /// Extra acceptance for a revision SHA that is not `commit` (e.g. "is this
    /// a descendant of our commit"); `None` = exact match only. Called at most
    /// once per SHA.
    pub accept_descendant: Option<AcceptRevision>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub struct FluxReport {
    /// What the Kustomization applied, as Flux writes it: `main@sha1:<sha>`.
    pub revision: String,
    /// What the GitRepository fetched for our request.
    pub source_revision: String,
    /// Our `reconcile.fluxcd.io/requestedAt` value.
    pub token: String,
    #[serde(rename = "elapsed_seconds", serialize_with = "as_seconds")]
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FluxError {
    #[error("{kind} {object} not found (check its namespace and name, e.g. `kubectl get {kind} -n {}`)", object.namespace)]
    NotFound { kind: FluxKind, object: ObjectRef },
    #[error("{kind} {object} is suspended, so Flux will not reconcile it; resume it with `flux resume {} {} -n {}`", kind.flux_cli_name(), object.name, object.namespace)]
    Suspended { kind: FluxKind, object: ObjectRef },
    #[error("{kind} {object} failed ({reason}): {message}")]
    Failed {
        kind: FluxKind,
        object: ObjectRef,
        reason: String,
        /// Flux's message.
        message: String,
    },
    #[error("timed out after {} waiting for {waiting_for}", seconds(*after))]
    TimedOut {
        after: Duration,
        /// The last progress, with Flux's latest message.
        waiting_for: String,
    },
    #[error("{action} {kind} {object}: {source}")]
    Api {
        action: &'static str,
        kind: FluxKind,
        object: ObjectRef,
        #[source]
        source: kube::Error,
    },
}

/// A fresh `requestedAt` token: the time in RFC 3339 with nanoseconds, like `flux reconcile`.
pub fn new_token() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Whether `req`'s objects exist and neither is suspended, touching nothing:
/// what a deploy checks before it pushes anything.
pub async fn check_flux_objects(client: &kube::Client, req: &FluxRequest) -> Result<(), FluxError> {
    Objects { req }.both_usable(client).await.map(|_| ())
}

/// Reconciles `req.source`, then `req.kustomization`, and waits until our
/// commit is applied. `progress` gets short status lines for a spinner.
pub async fn reconcile_flux(
    client: &kube::Client,
    req: &FluxRequest,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<FluxReport, FluxError> {
    let started = Instant::now();
    let deadline = started + req.timeout;
    let token = new_token();
    let objects = Objects { req };

    let mut watches = stream::select(
        flux::watch(client, FluxKind::GitRepository, &req.source)
            .map(|e| (FluxKind::GitRepository, e)),
        flux::watch(client, FluxKind::Kustomization, &req.kustomization)
            .map(|e| (FluxKind::Kustomization, e)),
    );
    let (mut source, mut kustomization) = objects.both_usable(client).await?;
    progress(&format!("asking GitRepository {} to fetch", req.source));
    objects
        .request(client, FluxKind::GitRepository, &token)
        .await?;

    let accepted = Mutex::new(HashMap::<String, bool>::new());
    let accept = |hash: &str| match &req.accept_descendant {
        None => false,
        Some(check) => *accepted
            .lock()
            .expect("no panics while locked")
            .entry(hash.to_owned())
            .or_insert_with(|| check(hash)),
    };
    let wanted = Wanted {
        commit: req.commit.as_deref(),
        accept: &accept,
    };
    let mut kustomization_requested = false;
    let mut last_line = String::new();
    loop {
        let line = match flux_progress::progress(&source, &kustomization, &token, &wanted) {
            FluxProgress::Applied {
                source_revision,
                revision,
            } => {
                return Ok(FluxReport {
                    revision,
                    source_revision,
                    token,
                    elapsed: started.elapsed(),
                })
            }
            FluxProgress::Failed {
                kind,
                reason,
                message,
            } => {
                return Err(FluxError::Failed {
                    kind,
                    object: objects.of(kind).clone(),
                    reason,
                    message,
                })
            }
            FluxProgress::Suspended { kind } => return Err(objects.suspended(kind)),
            FluxProgress::WaitingForSource { detail } => detail,
            FluxProgress::WaitingForKustomization { detail, .. } => {
                if !kustomization_requested {
                    objects
                        .request(client, FluxKind::Kustomization, &token)
                        .await?;
                    kustomization_requested = true;
                }
                detail
            }
        };
        if line != last_line {
            tracing::debug!("waiting for {line}");
            progress(&format!("waiting for {line}"));
            last_line = line;
        }
        let next = match tokio::time::timeout_at(deadline, watches.next()).await {
            Ok(Some(next)) => next,
            // The watch streams never end on their own.
            Ok(None) | Err(_) => {
                return Err(FluxError::TimedOut {
                    after: req.timeout,
                    waiting_for: last_line,
                })
            }
        };
        match next {
            (kind, Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => {
                *slot(kind, &mut source, &mut kustomization) = obj;
            }
            (kind, Ok(watcher::Event::Delete(_))) => return Err(objects.not_found(kind)),
            (_, Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
            (kind, Err(e)) => {
                // The watcher retries by itself; read the object meanwhile so
                // a change during the outage is not missed.
                tracing::debug!("watch of {kind} {} failed: {e}", objects.of(kind));
                *slot(kind, &mut source, &mut kustomization) = objects.get(client, kind).await?;
            }
        }
    }
}

/// Where the latest copy of `kind` is kept.
fn slot<'v>(kind: FluxKind, source: &'v mut Value, kustomization: &'v mut Value) -> &'v mut Value {
    match kind {
        FluxKind::GitRepository => source,
        FluxKind::Kustomization => kustomization,
    }
}

/// The request's two objects, for API calls and errors.
struct Objects<'a> {
    req: &'a FluxRequest,
}

impl Objects<'_> {
    /// Both objects, when both exist and neither is suspended (then neither
    /// is touched).
    async fn both_usable(&self, client: &kube::Client) -> Result<(Value, Value), FluxError> {
        let source = self.get(client, FluxKind::GitRepository).await?;
        let kustomization = self.get(client, FluxKind::Kustomization).await?;
        for (kind, obj) in [
            (FluxKind::GitRepository, &source),
            (FluxKind::Kustomization, &kustomization),
        ] {
            if obj["spec"]["suspend"] == Value::Bool(true) {
                return Err(self.suspended(kind));
            }
        }
        Ok((source, kustomization))
    }

    fn of(&self, kind: FluxKind) -> &ObjectRef {
        match kind {
            FluxKind::GitRepository => &self.req.source,
            FluxKind::Kustomization => &self.req.kustomization,
        }
    }

    async fn get(&self, client: &kube::Client, kind: FluxKind) -> Result<Value, FluxError> {
        flux::get(client, kind, self.of(kind))
            .await
            .map_err(|e| self.api_error("reading", kind, e))?
            .ok_or_else(|| self.not_found(kind))
    }

    async fn request(
        &self,
        client: &kube::Client,
        kind: FluxKind,
        token: &str,
    ) -> Result<(), FluxError> {
        flux::request_reconcile(client, kind, self.of(kind), token)
            .await
            .map_err(|e| match &e {
                kube::Error::Api(s) if s.code == 404 => self.not_found(kind),
                _ => self.api_error("annotating", kind, e),
            })
    }

    fn api_error(&self, action: &'static str, kind: FluxKind, source: kube::Error) -> FluxError {
        FluxError::Api {
            action,
            kind,
            object: self.of(kind).clone(),
            source,
        }
    }

    fn not_found(&self, kind: FluxKind) -> FluxError {
        FluxError::NotFound {
            kind,
            object: self.of(kind).clone(),
        }
    }

    fn suspended(&self, kind: FluxKind) -> FluxError {
        FluxError::Suspended {
            kind,
            object: self.of(kind).clone(),
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
}

//! The drift between the ledger, git and the cluster for one service in one
//! environment, and why, in one line. First match wins:
//!
//! 1. `unknown`: git or the cluster could not be read, or git has no pin to
//!    compare (never a guess);
//! 2. `failed`: the ledger's last run failed, the rollout failed, or Flux
//!    cannot apply the source;
//! 3. `ledger-stale`: git pins another digest than the ledger's last
//!    succeeded run shipped (git changed outside Forge), or the ledger has
//!    no such run;
//! 4. `git-ahead`: Flux has not applied the commit that pinned it (or the
//!    pods are still rolling over to it);
//! 5. `cluster-drift`: Flux applied it, but the workload or its pods run
//!    another digest (a hand edit, a failed rollout, an admission mutation),
//!    or the Kustomization or workload is missing;
//! 6. `in-sync`: all three agree.

use crate::kube::flux_progress::{revision_hash, same_commit, short};
use crate::kube::rollout_verdict::Verdict;
use crate::release::RunState;

use super::model::{ClusterView, FluxView, GitView, LedgerView, WorkloadView};

pub use super::class::Drift;

/// The drift class of one service in `environment` and its explanation.
pub fn classify(
    environment: &str,
    ledger: &LedgerView,
    git: &GitView,
    cluster: &ClusterView,
) -> (Drift, String) {
    let (tip, pin, reference, pin_commit, since_pin) = match git {
        GitView::Unreadable { reason } => {
            return (
                Drift::Unknown,
                format!("cannot read the GitOps repository: {reason}"),
            )
        }
        GitView::Read {
            tip,
            pin,
            reference,
            pin_commit,
            since_pin,
            file,
        } => match pin {
            None => {
                return (
                    Drift::Unknown,
                    format!("{file} has no `images:` entry for the service: nothing to compare"),
                )
            }
            Some(p) => (
                tip,
                p,
                reference.as_deref().unwrap_or(""),
                pin_commit.as_ref().unwrap_or(tip),
                since_pin,
            ),
        },
    };
    if let ClusterView::Unreachable { reason } = cluster {
        return (
            Drift::Unknown,
            format!("cluster unreachable ({reason}): what runs is not known"),
        );
    }

    if let Some(run) = ledger
        .last_run
        .as_ref()
        .filter(|r| r.state == RunState::Failed)
    {
        let at = run
            .failed_step
            .as_deref()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default();
        let error = run
            .error
            .as_deref()
            .map(|e| format!(": {}", first_line(e)))
            .unwrap_or_default();
        return (Drift::Failed, format!("run {} failed{at}{error}", run.id));
    }
    if let ClusterView::Observed {
        kustomization,
        workload,
    } = cluster
    {
        if let Some(w) = workload {
            if let Verdict::Failed { reason } = &w.verdict {
                return (
                    Drift::Failed,
                    format!("the rollout of {} failed: {reason}", w.name),
                );
            }
        }
        if let Some(k) = kustomization {
            if let Some(why) = flux_failure(k) {
                return (Drift::Failed, why);
            }
        }
    }

    let git_digest = pin.digest.as_deref();
    let shipped = ledger.deployed.as_ref();
    match (shipped, git_digest) {
        (None, _) => {
            return (
                Drift::LedgerStale,
                format!(
                    "git pins {} ({}), but the ledger has no succeeded run here",
                    short_image(reference),
                    commit_line(pin_commit)
                ),
            )
        }
        (Some(d), Some(g)) if d.digest == g => {}
        (Some(d), _) => {
            return (
                Drift::LedgerStale,
                format!(
                    "git pins {} ({}), but the ledger's last run {} shipped {}: git changed outside Forge",
                    short_image(reference),
                    commit_line(pin_commit),
                    d.run,
                    short_digest(&d.digest)
                ),
            )
        }
    }
    let digest = git_digest.expect("matched the ledger's digest");
    let running_note = match ledger.last_run.as_ref() {
        Some(r) if r.state == RunState::Running => format!("; run {} is in progress", r.id),
        _ => String::new(),
    };

    let (kustomization, workload) = match cluster {
        ClusterView::Disabled => {
            return (
                Drift::InSync,
                format!(
                    "the ledger and git agree on {}; environments.{environment} has no cluster to compare{running_note}",
                    short_digest(digest)
                ),
            )
        }
        ClusterView::Unreachable { .. } => unreachable!("returned above"),
        ClusterView::Observed {
            kustomization,
            workload,
        } => (kustomization, workload),
    };
    let Some(k) = kustomization else {
        return (
            Drift::ClusterDrift,
            "the environment's Flux Kustomization does not exist in the cluster".to_owned(),
        );
    };
    let applied = k.last_applied_revision.as_deref().map(revision_hash);
    let has_pin = applied.is_some_and(|a| since_pin.iter().any(|c| same_commit(c, a)));
    if !has_pin {
        let suspended = if k.suspended {
            "; the Kustomization is suspended"
        } else {
            ""
        };
        let applied = applied.map_or("nothing yet".to_owned(), |a| short(a).to_owned());
        return (
            Drift::GitAhead,
            format!(
                "git pins {} at {}, Flux ({}) has applied {applied}{suspended}{running_note}",
                short_digest(digest),
                short(&pin_commit.id),
                k.name
            ),
        );
    }
    let Some(w) = workload else {
        return (
            Drift::ClusterDrift,
            format!(
                "Flux applied {}, but the workload does not exist in the cluster",
                short(applied.unwrap_or(&tip.id))
            ),
        );
    };
    if let Some(why) = workload_drift(w, digest, &running_note) {
        return why;
    }
    let health = match &w.verdict {
        Verdict::InProgress { reason } => format!("; not rolled out: {reason}"),
        _ => String::new(),
    };
    let by = shipped
        .map(|d| format!(" (run {} by {})", d.run, d.actor))
        .unwrap_or_default();
    (
        Drift::InSync,
        format!(
            "{} everywhere{by}: Flux applied {}, {}/{} ready{health}{running_note}",
            short_digest(digest),
            short(applied.unwrap_or_default()),
            w.ready_replicas,
            w.desired_replicas
        ),
    )
}

/// Flux's Ready=False for a reason other than work in progress.
fn flux_failure(k: &FluxView) -> Option<String> {
    const WORKING: [&str; 3] = ["Progressing", "ProgressingWithRetry", "DependencyNotReady"];
    let reason = k.reason.as_deref().unwrap_or("");
    if k.ready.as_deref() != Some("False") || WORKING.contains(&reason) {
        return None;
    }
    let message = k
        .message
        .as_deref()
        .map(|m| format!(": {}", first_line(m)))
        .unwrap_or_default();
    Some(format!("Flux cannot apply {} ({reason}){message}", k.name))
}

/// The workload or its pods on another digest than `digest`.
fn workload_drift(w: &WorkloadView, digest: &str, note: &str) -> Option<(Drift, String)> {
    use super::running_images::digest_of;
    let template: Vec<&str> = w
        .template_images
        .iter()
        .filter_map(|i| digest_of(i))
        .collect();
    if !template.contains(&digest) {
        let runs = w
            .template_images
            .iter()
            .map(|i| short_image(i))
            .collect::<Vec<_>>()
            .join(", ");
        return Some((
            Drift::ClusterDrift,
            format!(
                "git pins {}, but {}'s template says {runs} (edited by hand or by an admission controller)",
                short_digest(digest),
                w.name
            ),
        ));
    }
    if w.running.is_empty() {
        return None;
    }
    if w.running.iter().any(|r| r.digest.is_none()) {
        return Some((
            Drift::Unknown,
            format!(
                "pods of {} report no image digest: what runs is not known",
                w.name
            ),
        ));
    }
    let other: Vec<String> = w
        .running
        .iter()
        .filter(|r| r.digest.as_deref() != Some(digest))
        .map(|r| {
            format!(
                "{} on {} pod(s)",
                short_digest(r.digest.as_deref().unwrap_or("")),
                r.pods
            )
        })
        .collect();
    if other.is_empty() {
        return None;
    }
    let other = other.join(", ");
    Some(match &w.verdict {
        Verdict::InProgress { reason } => (
            Drift::GitAhead,
            format!(
                "Flux applied {}, pods are still rolling over ({other}): {reason}{note}",
                short_digest(digest)
            ),
        ),
        _ => (
            Drift::ClusterDrift,
            format!(
                "git pins {}, but {} runs {other}",
                short_digest(digest),
                w.name
            ),
        ),
    })
}

fn commit_line(c: &super::model::CommitView) -> String {
    format!("commit {} by {}", short(&c.id), c.author)
}

/// `sha256:` and 12 hex digits.
pub fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// `repo:tag@sha256:` + 12 hex digits.
fn short_image(image: &str) -> String {
    match image.split_once('@') {
        Some((name, d)) => format!("{name}@{}", short_digest(d)),
        None => image.to_owned(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

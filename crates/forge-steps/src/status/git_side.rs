//! The GitOps side of each target: the pin of its image in its
//! kustomization at the branch tip, read from the cached clone after one
//! fetch, with the commit that last changed the file.

use std::collections::BTreeMap;
use std::time::Duration;

use forge_adapters::git::{CommitInfo, GitRemote};
use forge_core::gitops::image_pin::read_pin;
use forge_core::status::{CommitView, GitView};

use super::target::Target;

/// How far back the walk looks for the commit that changed a file.
const DEPTH: usize = 2_000;

pub(super) async fn read(
    remote: Option<GitRemote>,
    targets: &[Target],
    timeout: Duration,
) -> BTreeMap<(String, String), GitView> {
    let unreadable = |reason: String| {
        targets
            .iter()
            .map(|t| {
                (
                    t.key(),
                    GitView::Unreadable {
                        reason: reason.clone(),
                    },
                )
            })
            .collect()
    };
    let Some(remote) = remote else {
        return unreadable("deploy.yaml has no gitops:".to_owned());
    };
    let mut paths: Vec<String> = targets.iter().map(|t| t.kustomization.clone()).collect();
    paths.sort();
    paths.dedup();
    // libgit2 has no timeout of its own here: the blocking read is abandoned
    // (it finishes in the background) once `timeout` passes.
    let task = tokio::task::spawn_blocking(move || remote.tip_snapshot(&paths, DEPTH));
    let snapshot = match tokio::time::timeout(timeout, task).await {
        Err(_) => {
            return unreadable(format!(
                "no answer from the GitOps remote within {} s",
                timeout.as_secs()
            ))
        }
        Ok(Err(e)) => return unreadable(format!("reading the clone: {e}")),
        Ok(Ok(Err(e))) => return unreadable(e.to_string()),
        Ok(Ok(Ok(s))) => s,
    };
    let tip = commit_view(&snapshot.tip);
    targets
        .iter()
        .map(|t| {
            let view = match snapshot.files.get(&t.kustomization) {
                None => GitView::Unreadable {
                    reason: format!("{} was not read", t.kustomization),
                },
                Some(Err(reason)) => GitView::Unreadable {
                    reason: reason.clone(),
                },
                Some(Ok(file)) => match read_pin(&file.text, &t.image_name) {
                    Err(e) => GitView::Unreadable {
                        reason: format!("{}: {e}", t.kustomization),
                    },
                    Ok(pin) => GitView::Read {
                        file: t.kustomization.clone(),
                        tip: tip.clone(),
                        reference: pin.as_ref().map(|p| p.reference(&t.image_name)),
                        pin,
                        pin_commit: Some(commit_view(&file.last_change)),
                        since_pin: file.since_change.clone(),
                    },
                },
            };
            (t.key(), view)
        })
        .collect()
}

fn commit_view(c: &CommitInfo) -> CommitView {
    CommitView {
        id: c.id.clone(),
        author: c.author.clone(),
        at: c.time.saturating_mul(1000),
        subject: c.subject.clone(),
    }
}

//! Approvals and rejections of a release for an environment: audit events
//! (who, when, the comment), hash-chained like every other, and read back by
//! the gate, which counts distinct identities (the same person approving
//! twice counts once). A release rollback pauses promotion into its
//! environment until someone unpauses it, so the rollback sticks.

use std::collections::BTreeSet;

use forge_core::release::ReleaseId;
use forge_ledger::Ledger;

use super::recorder::now_ms;

const APPROVED: &str = "release.approved";
const REJECTED: &str = "release.rejected";
const PAUSED: &str = "environment.paused";
const UNPAUSED: &str = "environment.unpaused";

fn subject(release: &ReleaseId, env: &str) -> String {
    format!("{release}/{env}")
}

/// Records `actor`'s approval (or, with `reject`, rejection) of `release` for `env`.
pub async fn record(
    ledger: &Ledger,
    release: &ReleaseId,
    env: &str,
    actor: &str,
    reject: bool,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    ledger
        .append_audit(
            actor,
            if reject { REJECTED } else { APPROVED },
            &subject(release, env),
            serde_json::Value::Null,
            serde_json::json!({ "comment": comment }),
            now_ms(),
        )
        .await?;
    Ok(())
}

/// Who approved `release` for `env`, and the latest rejection (who, why).
pub async fn decisions(
    ledger: &Ledger,
    release: &ReleaseId,
    env: &str,
) -> anyhow::Result<(BTreeSet<String>, Option<(String, String)>)> {
    let wanted = subject(release, env);
    let mut approvers = BTreeSet::new();
    let mut rejected = None;
    for (event, _) in ledger.audit().await? {
        if event.subject != wanted {
            continue;
        }
        match event.action.as_str() {
            APPROVED => {
                approvers.insert(event.actor);
            }
            REJECTED => {
                let why = event.after["comment"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                rejected = Some((event.actor, why));
            }
            _ => {}
        }
    }
    Ok((approvers, rejected))
}

/// Pauses (or with `resume`, unpauses) automatic promotion into `env`.
pub async fn set_paused(
    ledger: &Ledger,
    env: &str,
    actor: &str,
    paused: bool,
    why: &str,
) -> anyhow::Result<()> {
    ledger
        .append_audit(
            actor,
            if paused { PAUSED } else { UNPAUSED },
            env,
            serde_json::Value::Null,
            serde_json::json!({ "why": why }),
            now_ms(),
        )
        .await?;
    Ok(())
}

/// Who paused promotion into `env`, if it is paused now.
pub async fn paused_by(ledger: &Ledger, env: &str) -> anyhow::Result<Option<String>> {
    let mut by = None;
    for (event, _) in ledger.audit().await? {
        if event.subject != env {
            continue;
        }
        match event.action.as_str() {
            PAUSED => by = Some(event.actor),
            UNPAUSED => by = None,
            _ => {}
        }
    }
    Ok(by)
}

//! The ledger's side of each target: its newest run (with the service's
//! failed step, if any) and what its newest succeeded run shipped (the
//! `image` step's digest and reference, the `pin` step's commit).

use std::collections::BTreeMap;

use forge_core::release::{RunId, StepState};
use forge_core::status::{DeployedView, LedgerView, RunView};
use forge_ledger::{Ledger, LedgerError, RunRecord, StepRecord};

/// `(service, environment)` → its ledger view; targets with no run are absent.
pub(super) async fn read(
    ledger: &Ledger,
) -> Result<BTreeMap<(String, String), LedgerView>, LedgerError> {
    let targets = ledger.latest_runs_by_target().await?;
    let mut ids: Vec<RunId> = targets
        .iter()
        .flat_map(|t| {
            std::iter::once(t.last.id.clone()).chain(t.last_succeeded.iter().map(|r| r.id.clone()))
        })
        .collect();
    ids.sort();
    ids.dedup();
    let steps = ledger.steps_of_runs(&ids).await?;
    let none = Vec::new();
    Ok(targets
        .into_iter()
        .map(|t| {
            let of = |r: &RunRecord| steps.get(&r.id).unwrap_or(&none);
            let view = LedgerView {
                last_run: Some(run_view(&t.last, of(&t.last), &t.service, &t.environment)),
                deployed: t
                    .last_succeeded
                    .as_ref()
                    .and_then(|r| deployed(r, of(r), &t.service, &t.environment)),
            };
            ((t.service, t.environment), view)
        })
        .collect())
}

fn service_steps<'a>(
    steps: &'a [StepRecord],
    service: &'a str,
) -> impl Iterator<Item = &'a StepRecord> {
    steps.iter().filter(move |s| s.key.service() == service)
}

fn run_view(run: &RunRecord, steps: &[StepRecord], service: &str, env: &str) -> RunView {
    let failed = service_steps(steps, service)
        .find(|s| s.state == StepState::Failed && s.key.environment() == env);
    RunView {
        id: run.id.to_string(),
        state: run.state,
        actor: run.actor.clone(),
        started_at: run.created_at,
        updated_at: run.updated_at,
        release: run.release.as_ref().map(|r| r.to_string()),
        failed_step: failed.map(|s| s.key.action().to_owned()),
        error: failed.and_then(|s| s.error.clone()),
    }
}

fn deployed(
    run: &RunRecord,
    steps: &[StepRecord],
    service: &str,
    env: &str,
) -> Option<DeployedView> {
    // The image is published once (in a product run, in its first
    // environment); the pin is this environment's.
    let output = |action: &str, here: bool| {
        service_steps(steps, service)
            .find(|s| {
                s.key.action() == action
                    && s.state == StepState::Succeeded
                    && (!here || s.key.environment() == env)
            })
            .and_then(|s| s.outputs.as_ref())
    };
    let image = output("image", false)?;
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_owned);
    Some(DeployedView {
        run: run.id.to_string(),
        digest: text(image, "digest")?,
        reference: text(image, "reference"),
        commit: output("pin", true).and_then(|p| text(p, "commit")),
        actor: run.actor.clone(),
        at: run.updated_at,
        release: run.release.as_ref().map(|r| r.to_string()),
    })
}

//! Whether a recorded release may be promoted into an environment: it
//! succeeded (pinned, and verified where checks ran) in every environment
//! before it in the product's order, and the environment's gate is open
//! (soaked long enough in the one just before, approved, not paused).

use forge_core::deploy_config::Product;
use forge_core::release::gate::{self, GateFacts, GateVerdict};
use forge_core::release::{ReleaseId, StepState};
use forge_ledger::{Ledger, RunFilter};

use super::approval;
use super::recorder::now_ms;

/// Why `release` may not enter `env` now, or `None` when it may.
pub async fn refusal(
    ledger: &Ledger,
    product: &Product,
    release: &ReleaseId,
    env: &str,
) -> anyhow::Result<Option<String>> {
    let Some(at) = product.environments.iter().position(|e| e == env) else {
        anyhow::bail!(
            "`{env}` is not one of {}'s environments ({})",
            product.name,
            product.environments.join(", ")
        );
    };
    let mut steps = Vec::new();
    for run in ledger.runs(&RunFilter::default()).await? {
        if run.release.as_ref() == Some(release) {
            steps.extend(ledger.steps(&run.id).await?);
        }
    }
    let mut healthy_since = None;
    for upstream in &product.environments[..at] {
        for service in &product.services {
            let of = |action: &str| {
                steps
                    .iter()
                    .filter(|s| {
                        s.key.service() == service
                            && s.key.environment() == upstream
                            && s.key.action() == action
                    })
                    .collect::<Vec<_>>()
            };
            let pinned = of("pin")
                .into_iter()
                .find(|s| s.state == StepState::Succeeded);
            let Some(pinned) = pinned else {
                return Ok(Some(format!(
                    "release {} has not been released to {upstream} ({service} was never pinned there)",
                    release.short()
                )));
            };
            let verified = of("verify");
            if !verified.is_empty() && !verified.iter().any(|s| s.state == StepState::Succeeded) {
                return Ok(Some(format!(
                    "release {} did not pass {service}'s verification in {upstream}",
                    release.short()
                )));
            }
            if Some(upstream.as_str()) == product.upstream(env) {
                let done = verified
                    .iter()
                    .filter(|s| s.state == StepState::Succeeded)
                    .filter_map(|s| s.finished_at)
                    .chain(pinned.finished_at)
                    .max();
                healthy_since = healthy_since.max(done);
            }
        }
    }
    let Some(upstream) = product.upstream(env) else {
        return Ok(None);
    };
    let (approvers, rejected) = approval::decisions(ledger, release, env).await?;
    let facts = GateFacts {
        upstream,
        healthy_since,
        approvers,
        rejected,
        paused_by: approval::paused_by(ledger, env).await?,
    };
    Ok(
        match gate::decide(&product.gate(env), env, &facts, now_ms()) {
            GateVerdict::Open => None,
            GateVerdict::Waiting(why) => Some(why.join("; ")),
            GateVerdict::Rejected(why) => Some(why),
        },
    )
}

/// What promoting `release` into `env` would change: per service, the
/// kustomization diff of pinning its recorded digest (empty when the
/// environment already pins it). Reads the GitOps tip; writes nothing.
pub async fn planned_diffs(
    config: &forge_core::deploy_config::DeployConfig,
    file: &std::path::Path,
    release: &forge_core::release::Release,
    env: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    use anyhow::Context as _;

    use crate::deploy::gitops::{self, Pin, Purpose};
    use crate::deploy::DeployContext;
    use crate::observer::NoObserver;

    let mut out = Vec::new();
    for (service, shipped) in &release.services {
        let ctx = DeployContext::new(
            config.clone(),
            file,
            service,
            env,
            std::sync::Arc::new(NoObserver),
        )?;
        let remote = ctx
            .git_remote()?
            .context("no gitops: in the configuration")?;
        let tag = shipped
            .image
            .rsplit_once(':')
            .map(|(_, t)| t.split('@').next().unwrap_or(t).to_owned())
            .filter(|t| !t.starts_with("sha256"));
        let pin = Pin {
            name: ctx.image_name(),
            new_name: ctx.new_name(),
            tag,
            digest: shipped.pinned_digest.clone(),
            allow_add: false,
        };
        let purpose = Purpose::Deploy {
            release: None,
            image: shipped.image.clone(),
            step: None,
        };
        let mut report = forge_core::deploy_report::DeployReport::new("promote", service, env);
        gitops::land(&ctx, &remote, &pin, purpose, true, &mut report).await?;
        out.push((service.clone(), report.diff.unwrap_or_default()));
    }
    Ok(out)
}

/// For a run waiting at gates: each closed gate and why, as of now
/// ("waiting: 1 of 2 approvals for production", "soak: 14 min left in staging").
pub async fn gate_waits(
    ledger: &Ledger,
    run: &forge_ledger::RunRecord,
) -> anyhow::Result<Vec<(String, String)>> {
    let (forge_core::release::RunState::Waiting, Some(release)) = (run.state, &run.release) else {
        return Ok(vec![]);
    };
    let Ok(spec) = serde_json::from_str::<super::RunSpec>(&run.command) else {
        return Ok(vec![]);
    };
    let Some(name) = &spec.product else {
        return Ok(vec![]);
    };
    let config = crate::config_file::load(&spec.config)?;
    let product = config.product(name)?;
    let done: Vec<String> = ledger
        .steps(&run.id)
        .await?
        .into_iter()
        .filter(|s| s.state == StepState::Succeeded)
        .map(|s| s.key.as_str().to_owned())
        .collect();
    let mut out = Vec::new();
    for env in product.environments.iter().skip(1) {
        let gate = format!("{name}/{env}/gate");
        if done.contains(&gate) {
            continue;
        }
        if let Some(why) = refusal(ledger, product, release, env).await? {
            out.push((gate, why));
        }
        break;
    }
    Ok(out)
}

//! `forge rollback <host> --env <env> [--to STORE_PATH]`: the host's pin set
//! back to the system it had before (or the given one) through the normal
//! commit path; its agent switches to it as to any new pin. Nothing is built:
//! an earlier system was pushed to the cache when it was deployed.

use std::path::Path;

use anyhow::{bail, Context as _};

use forge_adapters::git::{CommitMessage, EditError, LandOptions};
use forge_core::deploy_config::DeployConfig;
use forge_core::deploy_report::{DeployReport, Outcome, Status, Step};
use forge_core::host::pin::{pin_path, HostPin};
use forge_core::nix::store_path::DEFAULT_STORE_DIR;

use crate::deploy::context::ConfigRoot;

/// Earlier pins looked at, at most.
const HISTORY: usize = 50;

/// What a host rollback was asked for.
#[derive(Debug, Clone)]
pub struct HostRollbackRequest {
    /// A store path pinned before; default: the system before the current one.
    pub to: Option<String>,
    pub dry_run: bool,
    /// Who pins (the pin's `pinned_by`).
    pub actor: String,
}

/// Pins `host` in `env` back to its previous system, or to `request.to`.
pub async fn rollback_host(
    config: &DeployConfig,
    file: &Path,
    host: &str,
    env: &str,
    request: &HostRollbackRequest,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let host = config.host(host)?.clone();
    if host.environment != env {
        bail!(
            "{}: host `{}` belongs to environment `{}`, not `{env}`",
            config.file,
            host.name,
            host.environment
        );
    }
    let base = crate::config_file::ConfigSource::of(file)
        .base_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf());
    let base = base
        .canonicalize()
        .with_context(|| format!("resolving {}", base.display()))?;
    let root = ConfigRoot {
        config,
        base: &base,
    };
    let remote = root
        .git_remote()?
        .context("no gitops: section; a host's pin lives in the GitOps repository")?;
    let path = pin_path(env, &host.name);
    let (r, p) = (remote.clone(), path.clone());
    let history = tokio::task::spawn_blocking(move || r.file_history(&p, HISTORY)).await??;
    let pins: Vec<HostPin> = history
        .iter()
        .filter_map(|v| HostPin::parse(&v.text, &path, DEFAULT_STORE_DIR).ok())
        .collect();
    let current = pins
        .first()
        .with_context(|| format!("{path} has no pin to roll back from"))?
        .clone();
    let earlier = match request.to.as_deref() {
        Some(store_path) => pins
            .iter()
            .find(|p| p.store_path == store_path)
            .with_context(|| format!("{store_path} was never pinned for {} in {env}", host.name))?,
        None => pins
            .iter()
            .find(|p| p.store_path != current.store_path)
            .with_context(|| format!("no earlier system in {path}'s history to roll back to"))?,
    };
    let pin = HostPin {
        pinned_at: super::agent_files::now_text(),
        pinned_by: request.actor.clone(),
        ..earlier.clone()
    };
    report.image = Some(pin.store_path.clone());
    let message = CommitMessage {
        subject: format!("rollback({env}): host {} to {}", host.name, pin.store_path),
        body: None,
        trailers: vec![
            ("Forge-Host".to_owned(), host.name.clone()),
            ("Forge-Environment".to_owned(), env.to_owned()),
            ("Forge-System".to_owned(), pin.store_path.clone()),
            ("Forge-Rollback-Of".to_owned(), current.store_path.clone()),
        ],
    };
    if request.dry_run {
        let diff = forge_core::gitops::kustomize_edit::unified_diff(
            &current.render(),
            &pin.render(),
            &path,
        );
        report.record(
            Step::Rollback,
            Status::Planned(format!(
                "would pin {} back to {}",
                host.name, pin.store_path
            )),
        );
        report.diff = Some(diff);
        report.outcome = Outcome::Planned;
        return Ok(());
    }
    let text = pin.render();
    let edit =
        move |_: Option<&str>| -> Result<Option<String>, EditError> { Ok(Some(text.clone())) };
    let r = remote.clone();
    let p = path.clone();
    let landed = tokio::task::spawn_blocking(move || {
        r.land_file_upsert(&p, edit, &message, &LandOptions::default())
    })
    .await?;
    match landed {
        Ok(l) => {
            report.commit = l.commit.clone();
            report.record(
                Step::Rollback,
                Status::Done(format!(
                    "{} pinned back to {} (was {})",
                    host.name, pin.store_path, current.store_path
                )),
            );
            report.outcome = match l.commit {
                Some(_) => Outcome::Deployed,
                None => Outcome::NoOp,
            };
            Ok(())
        }
        Err(e) => {
            report.record(Step::Rollback, Status::Failed(e.to_string()));
            Err(e.into())
        }
    }
}

//! `forge deploy <host> --env <env>`: one `nix build` of the host's system,
//! its closure pushed to the cache (signed with deploy.yaml's key), and the
//! host's pin (`hosts/<env>/<host>.json`) committed to the GitOps branch with
//! Forge-* trailers and rebase-retry. The agent on the host does the rest.
//! A dry run builds, then shows the closure to push and the pin's diff.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use forge_adapters::git::{CommitMessage, EditError, LandOptions};
use forge_adapters::nix::NixCli;
use forge_core::deploy_config::hosts::Host;
use forge_core::deploy_config::DeployConfig;
use forge_core::deploy_report::{DeployReport, Outcome, Status, Step};
use forge_core::host::pin::{pin_path, HostPin, PIN_VERSION};
use forge_core::nix::store_path::StorePath;

use crate::deploy::context::ConfigRoot;
use crate::deploy::publish::push_closure_at;
use crate::deploy::PublishOptions;
use crate::observer::{phase, Event, Observer};

#[derive(Debug, Clone)]
pub struct HostDeployRequest {
    pub dry_run: bool,
    /// Release id for the pin and the Forge-Release trailer.
    pub release: Option<String>,
    /// Who pins (the pin's `pinned_by`).
    pub actor: String,
    pub publish: PublishOptions,
}

/// Deploys `host` of `config` (read from `file`) into `env`, recording every
/// step in `report`.
pub async fn deploy_host(
    config: &DeployConfig,
    file: &Path,
    host: &str,
    env: &str,
    request: &HostDeployRequest,
    observer: Arc<dyn Observer>,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let host = config.host(host)?.clone();
    config.environment(env)?;
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
    let remote = root.git_remote()?.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no gitops: section; a host's pin lives in the GitOps repository its agent watches",
            config.file
        )
    })?;
    let system = build_system(config, &base, &host, &*observer, report).await?;
    report.image = Some(system.to_string());
    push_closure_at(
        root,
        &*observer,
        &request.publish,
        std::slice::from_ref(&system),
        report,
    )
    .await?;

    let pin = HostPin {
        version: PIN_VERSION,
        host: host.name.clone(),
        environment: env.to_owned(),
        store_path: system.to_string(),
        release: request.release.clone(),
        pinned_at: super::agent_files::now_text(),
        pinned_by: request.actor.clone(),
        confirm_timeout_seconds: host.confirm_timeout.seconds(),
        checks: host.verify.clone(),
    };
    let file_in_repo = pin_path(env, &host.name);
    let message = commit_message(&pin, config, &base);
    let store_dir = forge_core::nix::store_path::DEFAULT_STORE_DIR;
    let edit = {
        let (pin, file) = (pin.clone(), file_in_repo.clone());
        move |old: Option<&str>| -> Result<Option<String>, EditError> {
            match old.map(|t| HostPin::parse(t, &file, store_dir)) {
                Some(Ok(current)) if current.same_system(&pin) => Ok(None),
                // A pin that cannot be read is replaced (it is ours to write).
                _ => Ok(Some(pin.render())),
            }
        }
    };
    let r = remote.clone();
    let f = file_in_repo.clone();
    let dry_run = request.dry_run;
    let landed =
        tokio::task::spawn_blocking(move || -> Result<Landing, forge_adapters::git::Error> {
            if dry_run {
                let old = r.read_file_if_present(&f)?;
                let new = edit(old.as_deref()).expect("the pin edit never fails");
                return Ok(match new {
                    None => Landing::Unchanged,
                    Some(new) => Landing::Diff(forge_core::gitops::kustomize_edit::unified_diff(
                        old.as_deref().unwrap_or(""),
                        &new,
                        &f,
                    )),
                });
            }
            let landed = r.land_file_upsert(&f, edit, &message, &LandOptions::default())?;
            Ok(match landed.commit {
                Some(c) => Landing::Committed(c, landed.attempts),
                None => Landing::Unchanged,
            })
        })
        .await?;
    let branch = &remote.branch;
    match landed {
        Err(e) => {
            report.record(Step::Gitops, Status::Failed(e.to_string()));
            return Err(e.into());
        }
        Ok(Landing::Unchanged) => report.record(
            Step::Gitops,
            Status::Unchanged(format!("{file_in_repo} on {branch} already pins {system}")),
        ),
        Ok(Landing::Diff(diff)) => {
            report.record(
                Step::Gitops,
                Status::Planned(format!("would commit to {branch}: {file_in_repo}")),
            );
            report.diff = Some(diff);
        }
        Ok(Landing::Committed(sha, attempts)) => {
            let retried = match attempts {
                1 => String::new(),
                n => format!(" after {} rejected push(es)", n - 1),
            };
            report.record(
                Step::Gitops,
                Status::Done(format!(
                    "commit {} on {branch}: {file_in_repo}{retried}",
                    &sha[..12.min(sha.len())]
                )),
            );
            report.commit = Some(sha);
        }
    }
    let why = format!(
        "host {} pulls its deploys: its agent switches and confirms",
        host.name
    );
    report.record(Step::Flux, Status::Skipped(why.clone()));
    report.record(Step::Rollout, Status::Skipped(why));
    report.outcome = if request.dry_run {
        Outcome::Planned
    } else if report.nothing_changed() {
        Outcome::NoOp
    } else {
        Outcome::Deployed
    };
    Ok(())
}

enum Landing {
    Unchanged,
    Diff(String),
    Committed(String, usize),
}

/// The system's toplevel, built by one `nix build`.
async fn build_system(
    config: &DeployConfig,
    base: &Path,
    host: &Host,
    observer: &dyn Observer,
    report: &mut DeployReport,
) -> anyhow::Result<StorePath> {
    let nix = NixCli::default();
    let installable = crate::service_image::installable(config, &host.installable, base);
    let title = format!("building {installable}");
    let built = phase(observer, &title, async {
        let builds = nix
            .build(std::slice::from_ref(&installable), |l| {
                observer.event(Event::Detail(l))
            })
            .await?;
        let outs: Vec<&String> = builds.iter().flat_map(|b| b.outputs.values()).collect();
        match outs.as_slice() {
            [one] => StorePath::parse_in(&nix.store_dir, one)
                .map_err(|_| anyhow::anyhow!("nix build reported {one:?}, not a store path")),
            other => bail!(
                "{installable} has {} outputs; a system's toplevel has one",
                other.len()
            ),
        }
    })
    .await;
    match &built {
        Ok(p) => report.record(Step::Build, Status::Done(p.to_string())),
        Err(e) => report.record(Step::Build, Status::Failed(format!("{e:#}"))),
    }
    built
}

fn commit_message(pin: &HostPin, config: &DeployConfig, base: &Path) -> CommitMessage {
    let mut trailers = vec![
        ("Forge-Host".to_owned(), pin.host.clone()),
        ("Forge-Environment".to_owned(), pin.environment.clone()),
        ("Forge-System".to_owned(), pin.store_path.clone()),
    ];
    let dir = crate::service_image::revision_dir(config, base);
    if let Some(rev) = forge_adapters::git_rev::current_commit(&dir) {
        trailers.push(("Forge-Flake-Rev".to_owned(), rev));
    }
    if let Some(rel) = &pin.release {
        trailers.push(("Forge-Release".to_owned(), rel.clone()));
    }
    CommitMessage {
        subject: format!(
            "deploy({}): host {} to {}",
            pin.environment, pin.host, pin.store_path
        ),
        body: None,
        trailers,
    }
}

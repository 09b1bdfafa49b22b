//! Pinning an image in the environment's kustomization and landing the commit
//! (deploys and rollbacks alike).

use crate::update_gitops::{update_gitops, GitopsOutcome, ReleaseInfo};
use forge_adapters::git::{GitRemote, LandOptions};
use forge_core::deploy_report::{DeployReport, Status, Step};
use forge_core::gitops::kustomize_edit::ImageEdit;

use super::context::DeployContext;

/// The `images:` entry to write.
#[derive(Debug, Clone)]
pub struct Pin {
    pub name: String,
    pub new_name: Option<String>,
    pub tag: Option<String>,
    pub digest: String,
    pub allow_add: bool,
}

pub enum Purpose {
    Deploy {
        release: Option<String>,
        image: String,
        /// `run/step-key` when a release run makes the commit.
        step: Option<String>,
    },
    Rollback {
        image: String,
        of: String,
    },
}

/// Before anything is built or pushed: the remote answers with our
/// credentials, the branch and the kustomization exist, and the pin applies
/// (the entry is there, or may be added). A failure is recorded on the step.
pub async fn preflight(
    ctx: &DeployContext,
    remote: &GitRemote,
    allow_add: bool,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let file = ctx.target.kustomization.clone();
    let (r, f) = (remote.clone(), file.clone());
    let checked = match tokio::task::spawn_blocking(move || r.read_file(&f)).await? {
        Ok(text) => {
            let probe = ImageEdit {
                name: ctx.image_name(),
                new_name: ctx.new_name(),
                new_tag: None,
                // Any well-formed digest: only whether the edit applies matters here.
                digest: Some(format!("sha256:{}", "0".repeat(64))),
                allow_add,
            };
            forge_core::gitops::kustomize_edit::set_image(&text, &probe)
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{file}: {e}"))
        }
        Err(e) => Err(anyhow::Error::new(e)),
    };
    checked.inspect_err(|e| {
        report.record(
            Step::Gitops,
            Status::Failed(format!("{e:#} (checked before building anything)")),
        )
    })
}

/// The commit pushed (`None`: nothing changed, or a dry run).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Landed {
    pub commit: Option<String>,
}

pub async fn land(
    ctx: &DeployContext,
    remote: &GitRemote,
    pin: &Pin,
    purpose: Purpose,
    dry_run: bool,
    report: &mut DeployReport,
) -> anyhow::Result<Landed> {
    let file = ctx.target.kustomization.clone();
    let edit = ImageEdit {
        name: pin.name.clone(),
        new_name: pin.new_name.clone(),
        new_tag: pin.tag.clone(),
        digest: Some(pin.digest.clone()),
        allow_add: pin.allow_add,
    };
    let (release, image, rollback_of, step_id) = match purpose {
        Purpose::Deploy {
            release,
            image,
            step,
        } => (release, image, None, step),
        Purpose::Rollback { image, of } => (None, image, Some(of), None),
    };
    let info = ReleaseInfo {
        service: ctx.target.service.clone(),
        environment: ctx.target.env.clone(),
        image,
        flake_rev: forge_adapters::git_rev::current_commit(&crate::service_image::revision_dir(
            &ctx.config,
            &ctx.base,
        )),
        release,
        rollback_of,
        step: step_id,
    };
    let step = if info.rollback_of.is_some() {
        Step::Rollback
    } else {
        Step::Gitops
    };
    let remote_c = remote.clone();
    let file_c = file.clone();
    let result = tokio::task::spawn_blocking(move || {
        update_gitops(
            &remote_c,
            &file_c,
            &edit,
            &info,
            &LandOptions::default(),
            dry_run,
        )
    })
    .await?;
    let update = match result {
        Ok(u) => u,
        Err(e) => {
            let msg = e.to_string();
            report.record(step, Status::Failed(msg.clone()));
            return Err(anyhow::Error::new(e));
        }
    };
    let branch = &remote.branch;
    let commit = match update.outcome {
        GitopsOutcome::Committed(sha) => {
            let retried = match update.attempts {
                1 => String::new(),
                n => format!(" after {} rejected push(es)", n - 1),
            };
            report.record(
                step,
                Status::Done(format!(
                    "commit {} on {branch}: {file}{retried}",
                    &sha[..12.min(sha.len())]
                )),
            );
            report.commit = Some(sha.clone());
            Some(sha)
        }
        GitopsOutcome::Unchanged => {
            report.record(
                step,
                Status::Unchanged(format!("{file} on {branch} already pins {}", pin.digest)),
            );
            None
        }
        GitopsOutcome::DryRun { diff } => {
            report.record(
                step,
                if diff.is_empty() {
                    Status::Unchanged(format!("{file} on {branch} already pins {}", pin.digest))
                } else {
                    Status::Planned(format!("would commit to {branch}: {file}"))
                },
            );
            if !diff.is_empty() {
                report.diff = Some(diff);
            }
            None
        }
    };
    Ok(Landed { commit })
}

//! The cluster half of a deploy or rollback: Flux applies the commit, the
//! workload rolls out, and a failed rollout may be rolled back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::context::DeployContext;
use super::gitops::{self, Landed, Pin, Purpose};
use super::publish::Published;
use crate::flux_reconcile::{check_flux_objects, reconcile_flux, FluxRequest};
use crate::observer::{phase, Event};
use crate::watch_rollout::{watch_rollout, RolloutRequest};
use forge_adapters::git::GitRemote;
use forge_adapters::kube::connect;
use forge_core::deploy_config::types::{Duration as ConfigDuration, RollbackPolicy};
use forge_core::deploy_report::{DeployReport, Outcome, Status, Step};
use forge_core::gitops::image_pin::{previous_pin, Version};
use forge_core::kube::pod_failure::{PodRules, DEFAULT_CRASHLOOP_RESTARTS};

/// How the rollout is judged.
/// How the cluster half of a deploy runs (the command line's flags).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Restarts after which a crash-looping container fails the rollout.
    pub crashloop_restarts: u64,
    /// Log lines shown per failing container.
    pub log_lines: usize,
    /// How long Flux may take (else the environment's timeouts.reconcile).
    pub reconcile_timeout: Option<ConfigDuration>,
    /// How long the rollout may take (else the environment's timeouts.rollout).
    pub rollout_timeout: Option<ConfigDuration>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            crashloop_restarts: DEFAULT_CRASHLOOP_RESTARTS,
            log_lines: 20,
            reconcile_timeout: None,
            rollout_timeout: None,
        }
    }
}

impl ClusterOptions {
    /// The command line's timeouts over the environment's.
    pub fn apply(&self, ctx: &mut DeployContext) {
        if let Some(t) = self.reconcile_timeout {
            ctx.target.reconcile_timeout = t;
        }
        if let Some(t) = self.rollout_timeout {
            ctx.target.rollout_timeout = t;
        }
    }
}

/// Versions of the kustomization a rollback looks back through.
const HISTORY_DEPTH: usize = 100;

/// Before anything is built or pushed: the cluster answers, and the Flux
/// objects exist and are not suspended. A failure is recorded on the Flux step.
pub async fn preflight(
    ctx: &DeployContext,
    report: &mut DeployReport,
) -> anyhow::Result<kube::Client> {
    let checked = async {
        let client = connect(ctx.target.kube_context.as_deref()).await?;
        check_flux_objects(&client, &flux_request(ctx, None, None)).await?;
        Ok::<_, anyhow::Error>(client)
    }
    .await;
    checked.inspect_err(|e| {
        report.record(
            Step::Flux,
            Status::Failed(format!("{e:#} (checked before pushing anything)")),
        )
    })
}

fn flux_request(
    ctx: &DeployContext,
    commit: Option<&str>,
    remote: Option<&GitRemote>,
) -> FluxRequest {
    let t = &ctx.target;
    let accept_descendant = commit.zip(remote).map(|(ours, remote)| {
        let (r, ours) = (remote.clone(), ours.to_owned());
        // A fetch and a graph walk: off the async workers' hot path.
        Arc::new(move |sha: &str| {
            tokio::task::block_in_place(|| r.is_descendant(sha, &ours).unwrap_or(false))
        }) as crate::flux_reconcile::AcceptRevision
    });
    FluxRequest {
        source: t.flux_source.clone(),
        kustomization: t.flux_kustomization.clone(),
        commit: commit.map(str::to_owned),
        accept_descendant,
        timeout: Duration::from_secs(t.reconcile_timeout.0),
    }
}

/// Dry run: which objects would be reconciled and watched.
pub fn plan(ctx: &DeployContext, report: &mut DeployReport) {
    let t = &ctx.target;
    report.record(
        Step::Flux,
        Status::Planned(format!(
            "would reconcile GitRepository {} then Kustomization {} (timeout {})",
            t.flux_source, t.flux_kustomization, t.reconcile_timeout
        )),
    );
    report.record(
        Step::Rollout,
        Status::Planned(format!(
            "would watch {:?} {}/{} (timeout {}, rollback: {})",
            t.workload.kind,
            t.workload.namespace,
            t.workload.name,
            t.rollout_timeout,
            match ctx.service.rollback {
                RollbackPolicy::Auto => "auto",
                RollbackPolicy::Manual => "manual",
            }
        )),
    );
}

/// What the cluster steps of one deploy or rollback share.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub ctx: &'a DeployContext,
    pub opts: &'a ClusterOptions,
    pub remote: &'a GitRemote,
}

/// Flux and the rollout for what `landed` pushed; on a failed rollout with
/// `policy` auto, the rollback too. Sets the report's outcome.
pub async fn converge(
    s: Session<'_>,
    client: &kube::Client,
    landed: &Landed,
    published: &Published,
    policy: RollbackPolicy,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let Session { ctx, opts, remote } = s;
    let client = client.clone();
    let unchanged = landed.commit.is_none();
    // With no new commit Flux is still asked to reconcile the tip, so a re-run
    // finishes what an earlier, interrupted deploy started.
    reconcile(ctx, &client, remote, landed.commit.as_deref(), report).await?;
    let failure = match rollout(ctx, opts, &client, &published.digest, unchanged, report).await? {
        None if unchanged && report.nothing_changed() => {
            report.outcome = Outcome::NoOp;
            return Ok(());
        }
        None => {
            report.outcome = Outcome::Deployed;
            return Ok(());
        }
        Some(reason) => reason,
    };
    if policy != RollbackPolicy::Auto || unchanged {
        report.outcome = Outcome::Failed { reason: failure };
        return Ok(());
    }
    let image = report.image.clone();
    let rolled_back = roll_back(s, Some(&client), None, false, report).await;
    // The report names what this deploy tried to ship.
    report.image = image;
    match rolled_back {
        Ok(to) => {
            report.outcome = Outcome::RolledBack {
                reason: failure,
                to,
            };
        }
        Err(e) => {
            report.outcome = Outcome::Failed {
                reason: format!("{failure}; the automatic rollback failed too: {e:#}"),
            };
        }
    }
    Ok(())
}

/// Re-pins the previous image (or `to`: a commit or a digest), lands it, and
/// waits for Flux and the rollout. Returns the image rolled back to.
pub async fn roll_back(
    s: Session<'_>,
    client: Option<&kube::Client>,
    to: Option<&str>,
    dry_run: bool,
    report: &mut DeployReport,
) -> anyhow::Result<String> {
    let Session { ctx, opts, remote } = s;
    let pin = rollback_pin(ctx, remote, to).await?;
    let reference = format!(
        "{}{}@{}",
        pin.new_name.clone().unwrap_or_else(|| ctx.image_name()),
        pin.tag
            .as_deref()
            .map(|t| format!(":{t}"))
            .unwrap_or_default(),
        pin.digest
    );
    let current = current_reference(ctx, remote).await.unwrap_or_default();
    let landed = gitops::land(
        ctx,
        remote,
        &pin,
        Purpose::Rollback {
            image: reference.clone(),
            of: current,
        },
        dry_run,
        report,
    )
    .await?;
    report.image = Some(reference.clone());
    let Some(client) = client else {
        return Ok(reference);
    };
    reconcile(ctx, client, remote, landed.commit.as_deref(), report).await?;
    if let Some(reason) = rollout(ctx, opts, client, &pin.digest, false, report).await? {
        anyhow::bail!("the rolled-back image does not roll out either: {reason}");
    }
    Ok(reference)
}

/// What to pin for a rollback: the previous image in the kustomization's
/// history, the one at commit `to`, or the digest `to`.
async fn rollback_pin(
    ctx: &DeployContext,
    remote: &GitRemote,
    to: Option<&str>,
) -> anyhow::Result<Pin> {
    let file = ctx.target.kustomization.clone();
    let name = ctx.image_name();
    let r = remote.clone();
    let f = file.clone();
    let history = tokio::task::spawn_blocking(move || r.file_history(&f, HISTORY_DEPTH)).await??;
    let versions: Vec<Version<'_>> = history
        .iter()
        .map(|v| Version {
            commit: &v.commit,
            text: &v.text,
        })
        .collect();
    let pin = match to {
        None => previous_pin(&file, &name, &versions)?.previous,
        Some(d) if d.starts_with("sha256:") => forge_core::gitops::image_pin::ImagePin {
            new_name: None,
            tag: forge_core::gitops::image_pin::tag_of_digest(&name, d, &versions),
            digest: Some(d.to_owned()),
        },
        Some(rev) => {
            let r = remote.clone();
            let (f, rev) = (file.clone(), rev.to_owned());
            let version = tokio::task::spawn_blocking(move || r.file_at(&f, &rev)).await??;
            forge_core::gitops::image_pin::read_pin(&version.text, &name)
                .map_err(|m| anyhow::anyhow!("{file} at {}: {m}", version.commit))?
                .with_context(|| {
                    format!("{file} at {} has no images: entry `{name}`", version.commit)
                })?
        }
    };
    let digest = pin.digest.clone().with_context(|| {
        format!("the earlier pin of `{name}` in {file} has no digest; pass --to sha256:...")
    })?;
    Ok(Pin {
        name,
        new_name: pin.new_name,
        tag: pin.tag,
        digest,
        allow_add: false,
    })
}

async fn current_reference(ctx: &DeployContext, remote: &GitRemote) -> anyhow::Result<String> {
    let r = remote.clone();
    let f = ctx.target.kustomization.clone();
    let text = tokio::task::spawn_blocking(move || r.read_file(&f)).await??;
    let name = ctx.image_name();
    let pin = forge_core::gitops::image_pin::read_pin(&text, &name)
        .map_err(|m| anyhow::anyhow!(m))?
        .context("no pin")?;
    Ok(pin.reference(&name))
}

pub(crate) async fn reconcile(
    ctx: &DeployContext,
    client: &kube::Client,
    remote: &GitRemote,
    commit: Option<&str>,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let t = &ctx.target;
    let request = flux_request(ctx, commit, Some(remote));
    let observer = &*ctx.observer;
    let result = phase(
        observer,
        "reconciling Flux",
        reconcile_flux(client, &request, &|m: &str| {
            observer.event(Event::Detail(m))
        }),
    )
    .await;
    match result {
        Ok(r) => {
            let applied = format!(
                "{} applied {} in {:.1} s",
                t.flux_kustomization,
                r.revision,
                r.elapsed.as_secs_f64()
            );
            report.record(
                Step::Flux,
                match commit {
                    Some(_) => Status::Done(applied),
                    None => Status::Unchanged(format!("no new commit; {applied}")),
                },
            );
            Ok(())
        }
        Err(e) => {
            report.record(Step::Flux, Status::Failed(e.to_string()));
            Err(anyhow::Error::new(e))
        }
    }
}

/// `None` when the workload rolled out with `digest`, else the reason it did not.
pub(crate) async fn rollout(
    ctx: &DeployContext,
    opts: &ClusterOptions,
    client: &kube::Client,
    digest: &str,
    already_pinned: bool,
    report: &mut DeployReport,
) -> anyhow::Result<Option<String>> {
    let t = &ctx.target;
    let request = RolloutRequest {
        workload: t.workload.clone(),
        expect_image: Some(digest.to_owned()),
        timeout: Duration::from_secs(t.rollout_timeout.0),
        rules: PodRules {
            crashloop_restarts: opts.crashloop_restarts,
        },
        pending_limit: Duration::from_secs(120),
        log_lines: opts.log_lines,
    };
    let observer = &*ctx.observer;
    let result = phase(
        observer,
        "watching the rollout",
        watch_rollout(client, &request, &|m: &str| {
            observer.event(Event::Detail(m))
        }),
    )
    .await;
    let rollout = match result {
        Ok(r) => r,
        Err(e) => {
            report.record(Step::Rollout, Status::Failed(e.to_string()));
            return Err(anyhow::Error::new(e));
        }
    };
    report.rollouts.extend(serde_json::to_value(&rollout).ok());
    let what = format!(
        "{:?} {}/{}",
        t.workload.kind, t.workload.namespace, t.workload.name
    );
    if rollout.succeeded() && already_pinned {
        report.record(
            Step::Rollout,
            Status::Unchanged(format!("{what} already runs {digest}")),
        );
        Ok(None)
    } else if rollout.succeeded() {
        report.record(
            Step::Rollout,
            Status::Done(format!(
                "{what} is Current in {:.1} s",
                rollout.elapsed.as_secs_f64()
            )),
        );
        Ok(None)
    } else {
        let text = rollout.render();
        report.record(Step::Rollout, Status::Failed(text.trim_end().to_owned()));
        let first = text.lines().next().unwrap_or("rollout failed").to_owned();
        Ok(Some(format!("{what}: {first}")))
    }
}

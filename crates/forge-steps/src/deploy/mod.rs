//! The deploy and rollback pipelines: the steps of `forge deploy` and
//! `forge rollback` chained with typed inputs (a [`DeployRequest`], a
//! [`RollbackRequest`]) and one typed output, the [`DeployReport`] every step
//! writes its line into.
//!
//! - [`context`]: deploy.yaml's service and environment made concrete.
//! - [`publish`]: build, closure push, image push (registry or oci: layout).
//! - [`gitops`]: the GitOps preflight and the pin landing in the kustomization.
//! - [`cluster`]: the cluster preflight, Flux, the rollout, automatic rollback.

pub mod cluster;
pub mod context;
pub mod gitops;
pub mod publish;

pub use cluster::{ClusterOptions, Session};
pub use context::DeployContext;
pub use publish::PublishOptions;

use forge_core::deploy_config::types::RollbackPolicy;
use forge_core::deploy_report::{DeployReport, Outcome, Status, Step};

/// What `forge deploy` was asked for.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// Build locally, then plan: push, commit and reconcile nothing.
    pub dry_run: bool,
    /// Add the image to the kustomization's `images:` when it is not there.
    pub allow_add: bool,
    /// Overrides the service's rollback policy.
    pub rollback: Option<RollbackPolicy>,
    /// Release id for the Forge-Release commit trailer.
    pub release: Option<String>,
    pub cluster: ClusterOptions,
    pub publish: PublishOptions,
}

/// What `forge rollback` was asked for.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    /// A GitOps commit or an image digest to go back to.
    pub to: Option<String>,
    pub dry_run: bool,
    pub cluster: ClusterOptions,
}

/// Runs a deploy of `ctx`'s service to its environment, recording every
/// step in `report`; the error is the step that failed (also in the report).
pub async fn deploy(
    ctx: &DeployContext,
    args: &DeployRequest,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let publish_opts = &args.publish;
    // A GitOps remote or a cluster that cannot take the deploy fails it
    // before anything is built or pushed (a dry run contacts no cluster).
    let remote = ctx.git_remote()?;
    if let Some(remote) = &remote {
        gitops::preflight(ctx, remote, args.allow_add, report).await?;
    }
    let client = if ctx.target.cluster && remote.is_some() && !args.dry_run {
        Some(cluster::preflight(ctx, report).await?)
    } else {
        None
    };
    let published = publish::publish(ctx, publish_opts, report).await?;
    report.image = Some(published.reference.clone());

    let Some(remote) = remote else {
        let why = "no gitops: in deploy.yaml";
        report.record(Step::Gitops, Status::Skipped(why.into()));
        skip_cluster(report, why);
        report.outcome = settled(report, args.dry_run);
        return Ok(());
    };
    let pin = gitops::Pin {
        name: ctx.image_name(),
        new_name: ctx.new_name(),
        tag: published.tag.clone(),
        digest: published.digest.clone(),
        allow_add: args.allow_add,
    };
    let landed = gitops::land(
        ctx,
        &remote,
        &pin,
        gitops::Purpose::Deploy {
            release: args.release.clone(),
            image: published.reference.clone(),
            step: None,
        },
        args.dry_run,
        report,
    )
    .await?;

    if !ctx.target.cluster {
        skip_cluster(
            report,
            &format!("environments.{}.cluster is false", ctx.target.env),
        );
    } else if let Some(client) = &client {
        let policy = args.rollback.unwrap_or(ctx.service.rollback);
        let session = cluster::Session {
            ctx,
            opts: &args.cluster,
            remote: &remote,
        };
        cluster::converge(session, client, &landed, &published, policy, report).await?;
        return Ok(());
    } else {
        cluster::plan(ctx, report);
    }
    report.outcome = settled(report, args.dry_run);
    Ok(())
}

fn skip_cluster(report: &mut DeployReport, why: &str) {
    report.record(Step::Flux, Status::Skipped(why.to_owned()));
    report.record(Step::Rollout, Status::Skipped(why.to_owned()));
}

/// The outcome when no step failed.
fn settled(report: &DeployReport, dry_run: bool) -> Outcome {
    if dry_run {
        Outcome::Planned
    } else if report.nothing_changed() {
        Outcome::NoOp
    } else {
        Outcome::Deployed
    }
}

/// Rolls `ctx`'s service back to its previous (or a given) image, through
/// the same commit, Flux and rollout path as a deploy.
pub async fn rollback(
    ctx: &DeployContext,
    args: &RollbackRequest,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let remote = ctx.git_remote()?.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no gitops: section, so there is no kustomization history to roll back through",
            ctx.config.file
        )
    })?;
    let reachable = ctx.target.cluster && !args.dry_run;
    let client = if reachable {
        Some(cluster::preflight(ctx, report).await?)
    } else {
        None
    };
    let session = cluster::Session {
        ctx,
        opts: &args.cluster,
        remote: &remote,
    };
    cluster::roll_back(
        session,
        client.as_ref(),
        args.to.as_deref(),
        args.dry_run,
        report,
    )
    .await?;
    if args.dry_run {
        cluster::plan(ctx, report);
        report.outcome = Outcome::Planned;
    } else if !ctx.target.cluster {
        let why = format!("environments.{}.cluster is false", ctx.target.env);
        report.record(Step::Flux, Status::Skipped(why.clone()));
        report.record(Step::Rollout, Status::Skipped(why));
        report.outcome = Outcome::Deployed;
    } else if report.nothing_changed() {
        report.outcome = Outcome::NoOp;
    } else {
        report.outcome = Outcome::Deployed;
    }
    Ok(())
}

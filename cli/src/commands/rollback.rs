//! `forge rollback`: re-pin an earlier image through the same commit path as a
//! deploy, then wait for Flux and the rollout.

use crate::cli::Global;
use crate::commands::config::ConfigArg;
use crate::commands::deploy::{self, ClusterOptions, DeployContext};
use crate::domain::deploy_report::{DeployReport, Outcome, Status, Step};

/// Roll a service back to its previous (or a given) image.
///
/// The previous image is the newest earlier pin in the kustomization's git
/// history that differs from the current one. --to takes a GitOps commit (the
/// pin in the kustomization at that commit) or a digest (sha256:...; its tag is
/// looked up in the history). The change is committed with a Forge-Rollback-Of
/// trailer and pushed, Flux reconciles it, and the rollout is watched.
///
/// Exit status: 0 rolled back and rolled out, 1 failed.
///
/// Examples:
///   forge rollback app --env production
///   forge rollback app --env production --to 3f2c1ab
///   forge rollback app --env staging --to sha256:4f1c... --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RollbackArgs {
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// A GitOps commit or an image digest to go back to.
    #[arg(long, value_name = "COMMIT|DIGEST")]
    pub to: Option<String>,
    /// Print the kustomization diff; commit and reconcile nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cluster: ClusterOptions,
}

pub async fn run(args: RollbackArgs, global: Global) -> anyhow::Result<u8> {
    let ctx = DeployContext::load(&args.config, &args.service, &args.env, &args.cluster)?;
    let mut report = DeployReport::new("rollback", &args.service, &args.env);
    let result = rollback(&ctx, &args, &mut report).await;
    Ok(deploy::finish(report, result, global))
}

async fn rollback(
    ctx: &DeployContext,
    args: &RollbackArgs,
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
        Some(deploy::preflight(ctx, report).await?)
    } else {
        None
    };
    let session = deploy::Session {
        ctx,
        opts: &args.cluster,
        remote: &remote,
    };
    deploy::roll_back(
        session,
        client.as_ref(),
        args.to.as_deref(),
        args.dry_run,
        report,
    )
    .await?;
    if args.dry_run {
        deploy::plan_cluster(ctx, report);
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

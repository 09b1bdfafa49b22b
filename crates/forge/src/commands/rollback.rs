//! `forge rollback`: re-pin an earlier image through the same commit path as a
//! deploy, then wait for Flux and the rollout.

use crate::commands::release::{begin_one_service, finish_one_service, open_ledger, LedgerFlags};
use crate::flags::ConfigArg;
use crate::flags::{deploy_context, ClusterFlags};
use crate::global::Global;
use crate::render::finish_deploy;
use forge_core::deploy_report::DeployReport;
use forge_core::release::StepKind;
use forge_steps::deploy::{self as pipeline, RollbackRequest};
use forge_steps::observer::Event;

/// Roll a service back to its previous (or a given) image.
///
/// The previous image is the newest earlier pin in the kustomization's git
/// history that differs from the current one. --to takes a GitOps commit (the
/// pin in the kustomization at that commit) or a digest (sha256:...; its tag is
/// looked up in the history). The change is committed with a Forge-Rollback-Of
/// trailer and pushed, Flux reconciles it, and the rollout is watched.
///
/// Exit status: 0 rolled back and rolled out, 1 failed, 2 bad flags or
/// configuration. --json: the `forge.rollback/v1` document.
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
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

pub async fn run(args: RollbackArgs, global: Global) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    if config.hosts.contains_key(&args.service) {
        return rollback_host(args, config, global).await;
    }
    let request = RollbackRequest {
        to: args.to.clone(),
        dry_run: args.dry_run,
        cluster: args.cluster.options(),
    };
    let ctx = deploy_context(&args.config, &args.service, &args.env, &request.cluster)?;
    let mut report = DeployReport::new("rollback", &args.service, &args.env);
    let observer = ctx.observer.clone();
    report.on_record(move |line| observer.event(Event::Recorded(line)));
    let ledger = match args.dry_run {
        true => None,
        false => Some(open_ledger(&args.ledger, &args.config).await?),
    };
    let run = begin_one_service(
        ledger.as_ref(),
        StepKind::Rollback,
        &args.ledger,
        &args.config,
        &args.service,
        &args.env,
    )
    .await?;
    let result = pipeline::rollback(&ctx, &request, &mut report).await;
    finish_one_service(run, &report, &result).await?;
    Ok(finish_deploy(report, result, global))
}

/// A NixOS host: its pin set back to the previous system (or `--to`, a
/// store path pinned before); its agent switches to it.
async fn rollback_host(
    args: RollbackArgs,
    config: forge_core::deploy_config::DeployConfig,
    global: Global,
) -> anyhow::Result<u8> {
    let mut report = DeployReport::new("rollback", &args.service, &args.env);
    let ledger = match args.dry_run {
        true => None,
        false => Some(open_ledger(&args.ledger, &args.config).await?),
    };
    let run = begin_one_service(
        ledger.as_ref(),
        StepKind::Rollback,
        &args.ledger,
        &args.config,
        &args.service,
        &args.env,
    )
    .await?;
    let result = forge_steps::host::rollback_host(
        &config,
        &args.config.config,
        &args.service,
        &args.env,
        &forge_steps::host::HostRollbackRequest {
            to: args.to.clone(),
            dry_run: args.dry_run,
            actor: forge_ledger::actor_from_env(),
        },
        &mut report,
    )
    .await;
    finish_one_service(run, &report, &result).await?;
    Ok(finish_deploy(report, result, global))
}

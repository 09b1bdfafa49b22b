//! `forge deploy`: one service to one environment, from flake output to a
//! verified rollout. The steps come from `steps/` and `adapters/`; this
//! module orders them, records each in a [`DeployReport`] and decides the
//! exit status.

use crate::commands::release::{begin_one_service, finish_one_service, open_ledger, LedgerFlags};
use crate::flags::ConfigArg;
use crate::flags::{ClusterFlags, PublishFlags};
use crate::global::Global;
use crate::render::finish_deploy;
use forge_core::deploy_config::types::RollbackPolicy;
use forge_core::deploy_report::DeployReport;
use forge_core::release::StepKind;
use forge_steps::deploy::{self as pipeline, DeployRequest, PublishOptions};
use forge_steps::observer::Event;

/// Build, push and roll out a service of deploy.yaml to an environment.
///
/// Steps: nix build; push the closure to the cache; build the image and push
/// it to the registry (or an oci: layout directory); pin its digest (and tag)
/// in the environment's kustomization, commit with Forge-* trailers and push
/// (re-applied on the new tip if someone pushed first); ask Flux to reconcile
/// the GitRepository and the Kustomization and wait until our commit is
/// applied; watch the workload roll out, failing fast on broken pods. With
/// `rollback: auto` (or --rollback auto) a failed rollout re-pins the previous
/// image; the deploy still exits 1.
///
/// Before building anything it checks the GitOps remote (credentials, branch,
/// kustomization, the image entry) and the cluster (reachable, Flux objects
/// present and not suspended), so those failures push nothing.
///
/// Steps that have nothing to work with are skipped and say so: no `cache:`,
/// no `gitops:`, or `cluster: false` on the environment. Running it again with
/// nothing changed is a no-op (exit 0). --dry-run builds locally (the digest
/// depends on the build) and prints the plan: what would be pushed, the
/// kustomization diff, the Flux objects and the workload; nothing is pushed,
/// committed or reconciled.
///
/// A key of `hosts:` (a NixOS machine) is deployed the pull way: its system
/// is built, its closure pushed to the cache (signed) and pinned in
/// hosts/<env>/<host>.json for the host's `forge agent` to switch to and
/// confirm; --dry-run shows the pin's diff and what would be pushed.
///
/// Exit status: 0 deployed (or no-op, or dry run), 1 failed (also when rolled
/// back), 2 bad flags or configuration (nothing ran).
///
/// Progress goes to stderr as each step starts and ends (see --progress);
/// --json prints the `forge.deploy/v1` document on stdout. In a GitHub
/// Actions job the outputs image, tag, digest, commit, result and exit_code
/// are written to $GITHUB_OUTPUT and the summary to the job summary.
///
/// Examples:
///   forge deploy app --env staging
///   forge deploy app --env production --dry-run
///   forge deploy api --env staging --config deploy/deploy.yaml --json
///   forge deploy web1 --env production          (a NixOS host)
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DeployArgs {
    /// A key of `services:` in deploy.yaml, or of `hosts:` (a NixOS machine:
    /// its system is built, pushed and pinned for its agent to switch to).
    #[arg(value_name = "SERVICE|HOST")]
    pub service: String,
    /// A key of `environments:` in deploy.yaml.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the plan; push, commit and reconcile nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Add the image to the kustomization's `images:` when it is not there
    /// (by default a missing entry is an error: it usually means a wrong name).
    #[arg(long)]
    pub allow_add: bool,
    /// Override the service's rollback policy.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub rollback: Option<RollbackArg>,
    /// Release id for the Forge-Release commit trailer.
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RollbackArg {
    Auto,
    Manual,
}

pub async fn run(args: DeployArgs, global: Global) -> anyhow::Result<u8> {
    // Read once: the name may be a host (the NixOS path) or a service.
    let config = args.config.load()?;
    if config.hosts.contains_key(&args.service) {
        return deploy_host(args, config, global).await;
    }
    let request = DeployRequest {
        dry_run: args.dry_run,
        allow_add: args.allow_add,
        rollback: args.rollback.map(|r| match r {
            RollbackArg::Auto => RollbackPolicy::Auto,
            RollbackArg::Manual => RollbackPolicy::Manual,
        }),
        release: args.release.clone(),
        cluster: args.cluster.options(),
        publish: PublishOptions {
            dry_run: args.dry_run,
            publishing: args.publish.publishing(),
        },
    };
    let observer: std::sync::Arc<dyn forge_steps::observer::Observer> =
        std::sync::Arc::new(crate::output::ProgressView::new());
    let mut ctx = pipeline::DeployContext::new(
        config,
        &args.config.config,
        &args.service,
        &args.env,
        observer,
    )?;
    request.cluster.apply(&mut ctx);
    let mut report = DeployReport::new("deploy", &args.service, &args.env);
    let observer = ctx.observer.clone();
    report.on_record(move |line| observer.event(Event::Recorded(line)));
    let ledger = match args.dry_run {
        true => None,
        false => Some(open_ledger(&args.ledger, &args.config).await?),
    };
    let run = begin_one_service(
        ledger.as_ref(),
        StepKind::Deploy,
        &args.ledger,
        &args.config,
        &args.service,
        &args.env,
    )
    .await?;
    let result = pipeline::deploy(&ctx, &request, &mut report).await;
    finish_one_service(run, &report, &result).await?;
    Ok(finish_deploy(report, result, global))
}

/// `forge deploy HOST`: the system built, its closure pushed, its pin
/// committed; recorded in the ledger as a one-service run of the host.
async fn deploy_host(
    args: DeployArgs,
    config: forge_core::deploy_config::DeployConfig,
    global: Global,
) -> anyhow::Result<u8> {
    use forge_steps::host::{deploy_host, HostDeployRequest};
    let host = config.host(&args.service)?;
    config.environment(&args.env)?;
    if host.environment != args.env {
        return Err(crate::exit::usage(anyhow::anyhow!(
            "{}: host `{}` belongs to environment `{}`, not `{}`",
            config.file,
            host.name,
            host.environment,
            args.env
        )));
    }
    let observer: std::sync::Arc<dyn forge_steps::observer::Observer> =
        std::sync::Arc::new(crate::output::ProgressView::new());
    let request = HostDeployRequest {
        dry_run: args.dry_run,
        release: args.release.clone(),
        actor: forge_ledger::actor::actor_from_env(),
        publish: PublishOptions {
            dry_run: args.dry_run,
            publishing: args.publish.publishing(),
        },
    };
    let mut report = DeployReport::new("deploy", &args.service, &args.env);
    let shown = observer.clone();
    report.on_record(move |line| shown.event(Event::Recorded(line)));
    let ledger = match args.dry_run {
        true => None,
        false => Some(open_ledger(&args.ledger, &args.config).await?),
    };
    let run = begin_one_service(
        ledger.as_ref(),
        StepKind::Deploy,
        &args.ledger,
        &args.config,
        &args.service,
        &args.env,
    )
    .await?;
    let result = deploy_host(
        &config,
        &args.config.config,
        &args.service,
        &args.env,
        &request,
        observer,
        &mut report,
    )
    .await;
    finish_one_service(run, &report, &result).await?;
    Ok(finish_deploy(report, result, global))
}

//! The release commands: `forge orchestrate-release`, `run-migrations`,
//! `product-release`, `prerelease`, `comprehensive-release`, `promote` and
//! `forge release …`: durable runs recorded in the ledger.
//!
//! - [`product`]: products through environments: gates, approvals, promote,
//!   release rollback.
//! - [`inspect`]: plan, list, show, resume, cancel, audit.
//! - [`ledger_location`]: which ledger a command opens.
//! - [`outcome`]: how a run is shown (text, JSON, GitHub Actions).
//! - [`one_service`]: `forge deploy` / `forge rollback` as one-service runs.

mod inspect;
mod ledger_location;
mod one_service;
mod outcome;
mod product;

use crate::flags::{ClusterFlags, ConfigArg, PublishFlags};
use crate::global::Global;
use crate::output::ProgressView;
use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_steps::deploy::PublishOptions;
use forge_steps::release::{absolute, orchestrate, plan_of, RunOptions, RunSpec};
use std::sync::Arc;

pub use inspect::{AuditArgs, CancelArgs, ListArgs, PlanArgs, ResumeArgs, ShowArgs};
pub(crate) use ledger_location::open_ledger;
pub(crate) use one_service::{begin_one_service, finish_one_service};
use outcome::{finish, print_plan};
pub use product::{
    comprehensive_release, prerelease, product_release, promote, ApproveArgs, ProductReleaseArgs,
    PromoteArgs, ReleaseRollbackArgs, UnpauseArgs,
};

/// Release services to an environment as one durable, resumable run.
///
/// Every service in one run: build, push its closure to the cache and its
/// image to the registry (all services first, so the release, what ships,
/// is known and recorded before anything changes), then per service in
/// `depends_on` order: pin + commit + push, Flux, rollout. Each step's intent
/// is recorded in the ledger before its side effect and its outcome after,
/// so `forge release resume <run>` continues after a crash or a lost runner
/// without doing anything twice (a pin that landed is found by its
/// `Forge-Step` trailer). One run at a time per service × environment.
/// Independent services run in parallel, at most `--jobs` steps at once, and
/// every service is built in one `nix build`.
///
/// Exit status: 0 released, 1 a step failed (named, with its error), 2 bad input.
///
/// Examples:
///   forge orchestrate-release api web --env staging
///   forge orchestrate-release api --env production --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct OrchestrateArgs {
    /// Services of deploy.yaml; `depends_on` orders those released together
    /// (a dependency left out is taken as already released).
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the plan; record and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Add images missing from kustomizations' `images:`.
    #[arg(long)]
    pub allow_add: bool,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// Run a service's migrations in an environment, as a recorded run.
///
/// The image is built and pushed first (nothing is uploaded when the registry
/// has it), then each migration of deploy.yaml's `migrations:` runs, the
/// `before` ones first, as a Kubernetes Job in the environment's namespace
/// (`backoffLimit: 0`, `activeDeadlineSeconds` from its timeout, its logs
/// shown; a failed Job fails the run with its last log lines). Where the
/// environment has `cluster: false` the command runs here instead, with
/// FORGE_SERVICE, FORGE_ENV, FORGE_IMAGE, FORGE_RELEASE, FORGE_MIGRATION and
/// FORGE_RUN set. `forge release resume <run>` adopts a Job the run created
/// before a crash rather than starting a second one.
///
/// Exit status: 0 migrated, 1 a migration failed, 2 bad input.
///
/// Examples:
///   forge run-migrations api --env staging
///   forge run-migrations api --env production --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RunMigrationsArgs {
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the plan; record and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// Where runs are recorded.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerFlags {
    /// The ledger: an SQLite file or a postgres:// URL [default: deploy.yaml's
    /// `ledger:`, else $XDG_STATE_HOME/forge/ledger.db].
    #[arg(long, value_name = "PATH|URL", env = "FORGE_LEDGER")]
    pub ledger: Option<String>,
    /// How long the run holds each service × environment without a
    /// heartbeat (renewed every third of it); after a crash, `resume` may
    /// take over once it expired.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = ConfigDuration::parse)]
    pub lease_ttl: ConfigDuration,
    /// When another run holds a service × environment, wait up to DUR for it
    /// instead of failing at once.
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse)]
    pub wait: Option<ConfigDuration>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCommand {
    Plan(PlanArgs),
    List(ListArgs),
    Show(ShowArgs),
    Resume(ResumeArgs),
    Approve(ApproveArgs),
    Reject(ApproveArgs),
    Rollback(ReleaseRollbackArgs),
    Unpause(UnpauseArgs),
    Cancel(CancelArgs),
    Audit(AuditArgs),
}

pub async fn orchestrate_release(args: OrchestrateArgs, global: Global) -> anyhow::Result<u8> {
    let spec = RunSpec {
        command: "orchestrate-release".into(),
        config: absolute(&args.config.config)?,
        services: args.services.clone(),
        environment: args.env.clone(),
        allow_add: args.allow_add,
        product: None,
        pin_release: None,
    };
    if args.dry_run {
        let (_, plan) = plan_of(&spec)?;
        print_plan(&plan, global);
        return Ok(0);
    }
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = orchestrate(&ledger, spec, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

pub async fn run_migrations(args: RunMigrationsArgs, global: Global) -> anyhow::Result<u8> {
    let spec = RunSpec {
        command: "run-migrations".into(),
        config: absolute(&args.config.config)?,
        services: args.services.clone(),
        environment: args.env.clone(),
        allow_add: false,
        product: None,
        pin_release: None,
    };
    let (config, plan) = plan_of(&spec)?;
    for service in &args.services {
        if config.service(service)?.migrations.is_empty() {
            anyhow::bail!(
                "service `{service}` has no migrations: in {}",
                args.config.config.display()
            );
        }
    }
    if args.dry_run {
        print_plan(&plan, global);
        return Ok(0);
    }
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = orchestrate(&ledger, spec, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

pub async fn run(cmd: ReleaseCommand, global: Global) -> anyhow::Result<u8> {
    match cmd {
        ReleaseCommand::Approve(args) => product::decide(args, false, global).await,
        ReleaseCommand::Rollback(args) => product::release_rollback(args, global).await,
        ReleaseCommand::Unpause(args) => product::unpause(args, global).await,
        ReleaseCommand::Reject(args) => product::decide(args, true, global).await,
        ReleaseCommand::Plan(args) => inspect::plan(args, global).await,
        ReleaseCommand::List(args) => inspect::list(args, global).await,
        ReleaseCommand::Show(args) => inspect::show(args, global).await,
        ReleaseCommand::Cancel(args) => inspect::cancel(args, global).await,
        ReleaseCommand::Audit(args) => inspect::audit(args, global).await,
        ReleaseCommand::Resume(args) => inspect::resume_run(args, global).await,
    }
}

pub(super) fn run_options(
    publish: &PublishFlags,
    cluster: &ClusterFlags,
    ledger: &LedgerFlags,
) -> RunOptions {
    RunOptions {
        publish: PublishOptions {
            dry_run: false,
            publishing: publish.publishing(),
        },
        cluster: cluster.options(),
        lease_ttl: std::time::Duration::from_secs(ledger.lease_ttl.seconds()),
        // `--jobs` bounds both: steps at once, and blob transfers per push.
        jobs: publish.jobs,
        lease_wait: ledger
            .wait
            .map(|w| std::time::Duration::from_secs(w.seconds())),
    }
}

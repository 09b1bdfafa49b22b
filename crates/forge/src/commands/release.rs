//! `forge orchestrate-release` and `forge release plan|list|show|resume`:
//! durable release runs recorded in the ledger.

use std::sync::Arc;

use anyhow::Context as _;

use crate::flags::{ClusterFlags, ConfigArg, PublishFlags};
use crate::global::Global;
use crate::output::{print_json, ProgressView};
use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_core::deploy_config::LedgerConfig;
use forge_core::release::{RunId, RunState};
use forge_ledger::{Ledger, LedgerLocation, RunFilter};
use forge_steps::deploy::PublishOptions;
use forge_steps::release::{
    absolute, orchestrate, plan_of, resume, RunOptions, RunOutcome, RunRecorder, RunSpec,
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

/// Release a product: its services through its environments in promotion
/// order, built and pushed once (every environment gets the same digests).
///
/// The first environment gets the whole release (publish, migrations, pins,
/// Flux, rollouts, verification); each later one waits at its gate until the
/// release finished in the environment before, soaked there (`soak:`, from
/// timestamps in the ledger, never a sleep) and was approved by enough
/// distinct people (`approvals:`, `forge release approve`). A run waiting at
/// a gate exits 3 and stays resumable: `forge release approve` or
/// `forge release resume <run>` continues it. The first failure stops the
/// run: nothing goes to the next environment, and services under
/// `rollback: auto` are rolled back where they failed.
///
/// Exit status: 0 released everywhere, 1 a step failed, 2 bad input, 3 waiting at a gate.
///
/// Examples:
///   forge product-release shop
///   forge product-release shop --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ProductReleaseArgs {
    #[arg(value_name = "PRODUCT")]
    pub product: String,
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

/// Approve (or reject) a release for an environment: recorded with who and
/// when in the audit log. A run waiting at that gate continues when the
/// gate opens (approvals from distinct identities: FORGE_ACTOR, the CI's
/// identity, or $USER@host); a rejection fails it.
///
/// Exit status: 0 released, 1 failed or rejected, 2 bad input (e.g. no run
/// of this release waits for that environment), 3 still waiting.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ApproveArgs {
    #[arg(value_name = "RELEASE")]
    pub release: String,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// Roll a product back in an environment: every service pinned again to
/// the previous release's digests (or `--to`'s) through the normal commit
/// path, reconciled and watched until its rollout is done. Promotion into
/// the environment is paused first, so no waiting product release carries
/// the bad release back in: `forge release unpause <env>` lifts it.
///
/// Exit status: 0 rolled back, 1 a step failed, 2 bad input (no earlier release).
///
/// Examples:
///   forge release rollback production --product shop
///   forge release rollback production --product shop --to rel-3f2c1ab9c0d1e2f3
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReleaseRollbackArgs {
    #[arg(value_name = "ENV")]
    pub env: String,
    #[arg(long, value_name = "PRODUCT")]
    pub product: String,
    /// The release to return to [default: the one before the current one].
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// Promote a recorded release of a product into an environment: the same
/// digests, pinned, reconciled, rolled out and verified there (nothing is
/// rebuilt). Refused, with the reason, unless the release succeeded (and
/// passed its checks) in every environment before it and the environment's
/// gate is open: soaked long enough, approved, not paused.
///
/// Exit status: 0 promoted, 1 a step failed, 2 refused or bad input.
///
/// Examples:
///   forge promote rel-3f2c1ab9c0d1e2f3 --to production --product shop
///   forge promote rel-3f2c1ab9c0d1e2f3 --to production --product shop --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PromoteArgs {
    #[arg(value_name = "RELEASE")]
    pub release: String,
    #[arg(long, value_name = "ENV")]
    pub to: String,
    #[arg(long, value_name = "PRODUCT")]
    pub product: String,
    /// Check and print what would be pinned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// Let product releases promote into an environment again after a rollback.
#[derive(Debug, clap::Args)]
pub struct UnpauseArgs {
    #[arg(value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
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

/// Cancel a run: a runner still working on it is fenced (its next write is
/// refused) and the run cannot be resumed.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    #[arg(value_name = "RUN")]
    pub run: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

/// Print the audit log as JSON lines (who did what, when, to what, with the
/// hash chain), or check the chain with --verify.
///
/// Exit status: 0 (and with --verify: the chain is intact), 1 the chain is broken.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// Check that no event was edited or removed, instead of printing.
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

/// Print the step graph a release of these services to an environment would run.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// List release runs, newest first.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only runs in this environment.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

/// Show one run: its steps with state, attempts, outputs and kept errors.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[arg(value_name = "RUN")]
    pub run: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
}

/// Continue a run after a crash, a kill or a lost runner.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    #[arg(value_name = "RUN")]
    pub run: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub ledger: LedgerFlags,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub publish: PublishFlags,
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
            anyhow::bail!("service `{service}` has no migrations: in {}", args.config.config.display());
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

pub async fn product_release(args: ProductReleaseArgs, global: Global) -> anyhow::Result<u8> {
    product_run("product-release", args, global).await
}

/// `forge prerelease`: the product's flake checks, the build and push, and
/// the first environment with its verification; it stops there.
pub async fn prerelease(args: ProductReleaseArgs, global: Global) -> anyhow::Result<u8> {
    product_run("prerelease", args, global).await
}

/// `forge comprehensive-release`: the flake checks first, then the whole
/// product release through every environment and its gates.
pub async fn comprehensive_release(args: ProductReleaseArgs, global: Global) -> anyhow::Result<u8> {
    product_run("comprehensive-release", args, global).await
}

async fn product_run(command: &str, args: ProductReleaseArgs, global: Global) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    let product = config.product(&args.product)?;
    let spec = RunSpec {
        command: command.into(),
        config: absolute(&args.config.config)?,
        services: product.services.clone(),
        environment: product.environments.join(","),
        allow_add: false,
        product: Some(args.product.clone()),
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

/// Records the decision, then continues the run of `release` that waits at
/// `env`'s gate.
async fn decide(args: ApproveArgs, reject: bool, global: Global) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let release = forge_core::release::ReleaseId::parse(&args.release).map_err(anyhow::Error::msg)?;
    let run = waiting_run(&ledger, &release, &args.env).await.map_err(crate::exit::usage)?;
    let actor = forge_ledger::actor_from_env();
    forge_steps::release::approval::record(&ledger, &release, &args.env, &actor, reject, args.comment.as_deref()).await?;
    if !global.json {
        eprintln!(
            "{} {} for {} as {actor}",
            if reject { "rejected" } else { "approved" },
            release.short(),
            args.env
        );
    }
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = resume(&ledger, &run, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

pub async fn promote(args: PromoteArgs, global: Global) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    let product = config.product(&args.product)?;
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let release = forge_core::release::ReleaseId::parse(&args.release).map_err(anyhow::Error::msg)?;
    let recorded = ledger
        .release(&release)
        .await?
        .ok_or_else(|| crate::exit::usage(anyhow::anyhow!("no release {release} in the ledger")))?;
    if let Some(why) = forge_steps::release::promotion::refusal(&ledger, product, &release, &args.to).await? {
        return Err(crate::exit::usage(anyhow::anyhow!(
            "refusing to promote {} to {}: {why}",
            release.short(),
            args.to
        )));
    }
    let spec = RunSpec {
        command: "promote".into(),
        config: absolute(&args.config.config)?,
        services: product.services.clone(),
        environment: args.to.clone(),
        allow_add: false,
        product: None,
        pin_release: Some(release.clone()),
    };
    if args.dry_run {
        let (_, plan) = plan_of(&spec)?;
        if global.json {
            print_json(&serde_json::json!({ "schema": "forge.promote-plan/v1", "release": release, "plan": plan, "pins": recorded.services.iter().map(|(s, a)| (s.clone(), a.image.clone())).collect::<std::collections::BTreeMap<_, _>>() }));
        } else {
            println!("would promote {} to {}:", release.short(), args.to);
            for (service, shipped) in &recorded.services {
                println!("  {service}: pin {}", shipped.image);
            }
            print!("{}", plan.render());
        }
        return Ok(0);
    }
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = orchestrate(&ledger, spec, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

async fn release_rollback(args: ReleaseRollbackArgs, global: Global) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    let product = config.product(&args.product)?;
    config.environment(&args.env)?;
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let shipped = releases_in(&ledger, &product.services, &args.env).await?;
    let to = match &args.to {
        Some(text) => forge_core::release::ReleaseId::parse(text).map_err(anyhow::Error::msg)?,
        None => shipped.get(1).cloned().ok_or_else(|| {
            crate::exit::usage(anyhow::anyhow!(
                "no earlier release of {} in {} to roll back to ({} in the ledger)",
                args.product,
                args.env,
                shipped.len()
            ))
        })?,
    };
    let actor = forge_ledger::actor_from_env();
    let why = format!("release rollback of {} to {}", args.product, to.short());
    forge_steps::release::approval::set_paused(&ledger, &args.env, &actor, true, &why).await?;
    let spec = RunSpec {
        command: "release-rollback".into(),
        config: absolute(&args.config.config)?,
        services: product.services.clone(),
        environment: args.env.clone(),
        allow_add: false,
        product: None,
        pin_release: Some(to),
    };
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = orchestrate(&ledger, spec, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

/// The releases pinned for `services` in `env` by runs in the ledger, newest first.
async fn releases_in(
    ledger: &Ledger,
    services: &[String],
    env: &str,
) -> anyhow::Result<Vec<forge_core::release::ReleaseId>> {
    let mut out: Vec<forge_core::release::ReleaseId> = Vec::new();
    for r in ledger.runs(&RunFilter::default()).await? {
        let Some(release) = r.release.clone() else { continue };
        if out.contains(&release) {
            continue;
        }
        let pinned = ledger.steps(&r.id).await?.iter().any(|s| {
            s.key.environment() == env
                && s.key.action() == "pin"
                && services.iter().any(|x| x == s.key.service())
                && s.state == forge_core::release::StepState::Succeeded
        });
        if pinned {
            out.push(release);
        }
    }
    Ok(out)
}

/// The run of `release` whose gate before `env` has not opened.
async fn waiting_run(
    ledger: &Ledger,
    release: &forge_core::release::ReleaseId,
    env: &str,
) -> anyhow::Result<RunId> {
    let runs = ledger.runs(&RunFilter::default()).await?;
    for r in runs.iter().filter(|r| r.state == RunState::Waiting && r.release.as_ref() == Some(release)) {
        let steps = ledger.steps(&r.id).await?;
        let gate_pending = steps.iter().any(|s| {
            s.key.action() == "gate" && s.key.environment() == env && s.state != forge_core::release::StepState::Succeeded
        });
        let planned: RunSpec = serde_json::from_str(&r.command)?;
        let plans_gate = planned.environment.split(',').skip(1).any(|e| e == env);
        if gate_pending || (plans_gate && !steps.iter().any(|s| s.key.action() == "gate" && s.key.environment() == env)) {
            return Ok(r.id.clone());
        }
    }
    anyhow::bail!(
        "release {} is not waiting at a gate for {env}: approvals are for a run that waits (see forge release list)",
        release.short()
    )
}

pub async fn run(cmd: ReleaseCommand, global: Global) -> anyhow::Result<u8> {
    match cmd {
        ReleaseCommand::Approve(args) => decide(args, false, global).await,
        ReleaseCommand::Rollback(args) => release_rollback(args, global).await,
        ReleaseCommand::Unpause(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            let actor = forge_ledger::actor_from_env();
            forge_steps::release::approval::set_paused(&ledger, &args.env, &actor, false, "unpaused").await?;
            if global.json {
                print_json(&serde_json::json!({ "schema": "forge.release-unpause/v1", "environment": args.env, "by": actor }));
            } else {
                println!("promotion into {} resumed by {actor}", args.env);
            }
            Ok(0)
        }
        ReleaseCommand::Reject(args) => decide(args, true, global).await,
        ReleaseCommand::Plan(args) => {
            let spec = RunSpec {
                command: "orchestrate-release".into(),
                config: absolute(&args.config.config)?,
                services: args.services,
                environment: args.env,
                allow_add: false,
                product: None,
        pin_release: None,
            };
            let (_, plan) = plan_of(&spec)?;
            print_plan(&plan, global);
            Ok(0)
        }
        ReleaseCommand::List(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            let runs = ledger
                .runs(&RunFilter {
                    environment: args.env.clone(),
                    service: None,
                    limit: Some(args.limit),
                })
                .await?;
            if global.json {
                print_json(&runs);
            } else {
                for r in &runs {
                    println!(
                        "{}  {:<9}  {}  {}",
                        r.id,
                        r.state.as_str(),
                        r.environment,
                        r.services.join(", ")
                    );
                }
            }
            Ok(0)
        }
        ReleaseCommand::Show(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            let id = RunId::parse(&args.run).map_err(anyhow::Error::msg)?;
            let run = ledger
                .run(&id)
                .await?
                .with_context(|| format!("no run {id} in the ledger"))?;
            let steps = ledger.steps(&id).await?;
            if global.json {
                print_json(&serde_json::json!({
                    "schema": "forge.release-run/v1",
                    "run": run,
                    "steps": steps,
                }));
            } else {
                println!(
                    "{}  {}  {}  {}  by {}",
                    run.id,
                    run.state.as_str(),
                    run.environment,
                    run.release.as_ref().map_or("no release", |r| r.short()),
                    run.actor
                );
                for s in steps {
                    let summary = forge_steps::release::StepSummary {
                        seconds: s.seconds(),
                        key: s.key,
                        state: s.state,
                        attempts: s.attempts,
                        outputs: s.outputs,
                        error: s.error,
                    };
                    println!("{}", step_line(&summary));
                }
            }
            Ok(0)
        }
        ReleaseCommand::Cancel(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            let id = RunId::parse(&args.run).map_err(anyhow::Error::msg)?;
            RunRecorder::cancel(&ledger, &id).await?;
            if global.json {
                print_json(
                    &serde_json::json!({ "schema": "forge.release-cancel/v1", "run": id, "state": "cancelled" }),
                );
            } else {
                println!("run {id} cancelled");
            }
            Ok(0)
        }
        ReleaseCommand::Audit(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            if args.verify {
                let events = ledger.audit().await?.len();
                ledger.verify_audit().await?;
                if global.json {
                    print_json(
                        &serde_json::json!({ "schema": "forge.release-audit/v1", "intact": true, "events": events }),
                    );
                } else {
                    println!("audit log intact: {events} event(s), hash chain verified");
                }
            } else {
                for (event, hash) in ledger.audit().await? {
                    let mut line = serde_json::to_value(&event)?;
                    line["hash"] = hash.into();
                    println!("{line}");
                }
            }
            Ok(0)
        }
        ReleaseCommand::Resume(args) => {
            let ledger = open_ledger(&args.ledger, &args.config).await?;
            let id = RunId::parse(&args.run).map_err(anyhow::Error::msg)?;
            let options = run_options(&args.publish, &args.cluster, &args.ledger);
            let outcome = resume(&ledger, &id, &options, Arc::new(ProgressView::new())).await?;
            Ok(finish(&outcome, global))
        }
    }
}

fn run_options(publish: &PublishFlags, cluster: &ClusterFlags, ledger: &LedgerFlags) -> RunOptions {
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

/// `--ledger`, else deploy.yaml's `ledger:`, else `FORGE_LEDGER` / the default file.
pub(crate) async fn open_ledger(flags: &LedgerFlags, config: &ConfigArg) -> anyhow::Result<Ledger> {
    let location = match &flags.ledger {
        Some(text) => text.parse::<LedgerLocation>()?,
        // A deploy.yaml that is not there means the default ledger; a flake
        // configuration is always read.
        None => match (config.config.exists() || is_flake(&config.config))
            .then(|| config.load())
            .transpose()?
        {
            Some(c) => match c.ledger {
                Some(l) => configured_ledger(&l, &config.config)?,
                None => LedgerLocation::from_env_or_default()?,
            },
            None => LedgerLocation::from_env_or_default()?,
        },
    };
    Ok(Ledger::open(&location).await?)
}

fn is_flake(config: &std::path::Path) -> bool {
    matches!(
        forge_steps::config_file::ConfigSource::of(config),
        forge_steps::config_file::ConfigSource::Flake { .. }
    )
}

/// deploy.yaml's `ledger:`: a path relative to the file, or a variable
/// holding a `postgres://` URL.
fn configured_ledger(
    ledger: &LedgerConfig,
    file: &std::path::Path,
) -> anyhow::Result<LedgerLocation> {
    match ledger {
        LedgerConfig::Path(p) if std::path::Path::new(p).is_absolute() => {
            Ok(LedgerLocation::Sqlite(p.into()))
        }
        LedgerConfig::Path(p) => {
            let base = forge_steps::config_file::ConfigSource::of(file)
                .base_dir()
                .context("ledger.path: a remote flake's configuration has no directory for a relative path; give an absolute path")?;
            Ok(LedgerLocation::Sqlite(base.join(p)))
        }
        LedgerConfig::UrlEnv(var) => {
            let url = std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("ledger.url_env: {var} is not set"))?;
            Ok(url.parse::<LedgerLocation>()?)
        }
    }
}

fn print_plan(plan: &forge_core::release::ReleasePlan, global: Global) {
    if global.json {
        print_json(&serde_json::json!({ "schema": "forge.release-plan/v1", "plan": plan }));
    } else {
        print!("{}", plan.render());
    }
}

/// Prints the outcome; the exit status. In a GitHub Actions job the run's
/// table also goes to the job summary and its ids to `$GITHUB_OUTPUT`.
fn finish(outcome: &RunOutcome, global: Global) -> u8 {
    if global.json {
        print_json(outcome);
    } else {
        println!(
            "run {} ({}): {}",
            outcome.run,
            outcome
                .release
                .as_ref()
                .map_or("no release yet", |r| r.short()),
            outcome.state.as_str()
        );
        for s in &outcome.steps {
            println!("{}", step_line(s));
        }
        if let Some((key, error)) = &outcome.failed {
            println!("failed at {key}: {error}");
        }
    }
    if global.github_actions {
        let release = outcome.release.as_ref().map(|r| r.to_string()).unwrap_or_default();
        crate::github::write_outputs(&[
            ("run_id", outcome.run.to_string()),
            ("release_id", release),
            ("result", outcome.state.as_str().to_owned()),
        ]);
        crate::github::append_summary(&summary_markdown(outcome));
    }
    if !global.json {
        for (gate, why) in &outcome.waiting {
            println!("waiting at {gate}: {}", why.join("; "));
        }
    }
    match outcome.state {
        RunState::Succeeded => 0,
        RunState::Waiting => forge_core::exit_status::ExitStatus::InProgress.code(),
        _ => 1,
    }
}

/// One step for people: key, state, time, attempts, what it left (digest,
/// commit, migration Jobs), and its kept error.
fn step_line(s: &forge_steps::release::StepSummary) -> String {
    let mut line = format!("  {:<40} {:<9}", s.key.as_str(), s.state.as_str());
    if let Some(t) = s.seconds {
        line.push_str(&format!(" {t:>6.1} s"));
    }
    if s.attempts > 1 {
        line.push_str(&format!("  attempts {}", s.attempts));
    }
    if let Some(what) = s.outputs.as_ref().and_then(left_behind) {
        line.push_str(&format!("  {what}"));
    }
    if let Some(e) = s.error.as_deref().filter(|_| s.state != forge_core::release::StepState::Skipped) {
        line.push_str(&format!("\n      error: {}", e.replace('\n', "\n      ")));
    }
    line
}

/// The artifact a step's outputs name, if any.
fn left_behind(outputs: &serde_json::Value) -> Option<String> {
    if let Some(d) = outputs["digest"].as_str() {
        return Some(d.to_owned());
    }
    if let Some(c) = outputs["commit"].as_str() {
        return Some(format!("commit {}", &c[..c.len().min(12)]));
    }
    let jobs: Vec<&str> = outputs["migrations"]
        .as_array()?
        .iter()
        .filter_map(|m| m["ran_as"].as_str())
        .collect();
    (!jobs.is_empty()).then(|| jobs.join(", "))
}

fn summary_markdown(outcome: &RunOutcome) -> String {
    let mut md = format!(
        "### forge run `{}` in {}: {}\n\n",
        outcome.run,
        outcome.environment,
        outcome.state.as_str()
    );
    if let Some(r) = &outcome.release {
        md.push_str(&format!("Release `{r}`\n\n"));
    }
    md.push_str("| step | state | time | attempts | left |\n|---|---|---|---|---|\n");
    for s in &outcome.steps {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.key,
            s.state.as_str(),
            s.seconds.map(|t| format!("{t:.1} s")).unwrap_or_default(),
            s.attempts,
            s.outputs.as_ref().and_then(left_behind).unwrap_or_default()
        ));
    }
    if let Some((key, error)) = &outcome.failed {
        md.push_str(&format!("\n**Failed at `{key}`**\n\n```\n{error}\n```\n"));
    }
    md
}

/// A `forge deploy` / `forge rollback` as a one-service run: begun (taking
/// the lease) before the command does anything, unless it is a dry run.
pub(crate) async fn begin_one_service<'a>(
    ledger: Option<&'a Ledger>,
    kind: forge_core::release::StepKind,
    flags: &LedgerFlags,
    config: &ConfigArg,
    service: &str,
    env: &str,
) -> anyhow::Result<Option<forge_steps::release::OneServiceRun<'a>>> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let run = forge_steps::release::OneServiceRun::begin(
        ledger,
        kind,
        &absolute(&config.config)?,
        service,
        env,
        std::time::Duration::from_secs(flags.lease_ttl.seconds()),
        flags.wait.map(|w| std::time::Duration::from_secs(w.seconds())),
    )
    .await?;
    Ok(Some(run))
}

/// Records how the command ended: the report as the step's outputs, or the
/// failure verbatim.
pub(crate) async fn finish_one_service(
    run: Option<forge_steps::release::OneServiceRun<'_>>,
    report: &forge_core::deploy_report::DeployReport,
    result: &anyhow::Result<()>,
) -> anyhow::Result<()> {
    use forge_core::deploy_report::Outcome;
    let Some(run) = run else {
        return Ok(());
    };
    let error = match (result, &report.outcome) {
        (Err(e), _) => Some(format!("{e:#}")),
        (Ok(()), Outcome::Failed { reason }) => Some(reason.clone()),
        (Ok(()), Outcome::RolledBack { reason, to }) => Some(format!("{reason}; rolled back to {to}")),
        (Ok(()), _) => None,
    };
    run.finish(serde_json::to_value(report)?, error.as_deref()).await?;
    Ok(())
}

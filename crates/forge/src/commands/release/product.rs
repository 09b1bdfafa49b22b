//! Products through their environments: `product-release`, `prerelease`,
//! `comprehensive-release`, approvals and rejections at gates, `promote`,
//! release rollback and unpause.

use std::sync::Arc;

use crate::flags::{ClusterFlags, ConfigArg, PublishFlags};
use crate::global::Global;
use crate::output::{print_json, ProgressView};
use forge_core::release::{RunId, RunState};
use forge_ledger::{Ledger, RunFilter};
use forge_steps::release::{absolute, orchestrate, plan_of, resume, RunSpec};

use super::outcome::{finish, print_plan};
use super::{open_ledger, run_options, LedgerFlags};

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

async fn product_run(
    command: &str,
    args: ProductReleaseArgs,
    global: Global,
) -> anyhow::Result<u8> {
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
pub(super) async fn decide(args: ApproveArgs, reject: bool, global: Global) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let release =
        forge_core::release::ReleaseId::parse(&args.release).map_err(anyhow::Error::msg)?;
    let run = waiting_run(&ledger, &release, &args.env)
        .await
        .map_err(crate::exit::usage)?;
    let actor = forge_ledger::actor_from_env();
    forge_steps::release::approval::record(
        &ledger,
        &release,
        &args.env,
        &actor,
        reject,
        args.comment.as_deref(),
    )
    .await?;
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
    let release =
        forge_core::release::ReleaseId::parse(&args.release).map_err(anyhow::Error::msg)?;
    let recorded = ledger
        .release(&release)
        .await?
        .ok_or_else(|| crate::exit::usage(anyhow::anyhow!("no release {release} in the ledger")))?;
    if let Some(why) =
        forge_steps::release::promotion::refusal(&ledger, product, &release, &args.to).await?
    {
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
        let diffs = forge_steps::release::promotion::planned_diffs(
            &config,
            &spec.config,
            &recorded,
            &args.to,
        )
        .await?;
        if global.json {
            let diffs: std::collections::BTreeMap<_, _> = diffs.into_iter().collect();
            print_json(&serde_json::json!({
                "schema": "forge.promote-plan/v1",
                "release": release,
                "plan": plan,
                "diffs": diffs,
            }));
        } else {
            println!("would promote {} to {}:", release.short(), args.to);
            for (service, diff) in &diffs {
                if diff.is_empty() {
                    println!("  {service}: already pinned");
                } else {
                    print!("{diff}");
                }
            }
            print!("{}", plan.render());
        }
        return Ok(0);
    }
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = orchestrate(&ledger, spec, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

pub(super) async fn release_rollback(
    args: ReleaseRollbackArgs,
    global: Global,
) -> anyhow::Result<u8> {
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
        let Some(release) = r.release.clone() else {
            continue;
        };
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
    for r in runs
        .iter()
        .filter(|r| r.state == RunState::Waiting && r.release.as_ref() == Some(release))
    {
        let steps = ledger.steps(&r.id).await?;
        let gate_pending = steps.iter().any(|s| {
            s.key.action() == "gate"
                && s.key.environment() == env
                && s.state != forge_core::release::StepState::Succeeded
        });
        let planned: RunSpec = serde_json::from_str(&r.command)?;
        let plans_gate = planned.environment.split(',').skip(1).any(|e| e == env);
        if gate_pending
            || (plans_gate
                && !steps
                    .iter()
                    .any(|s| s.key.action() == "gate" && s.key.environment() == env))
        {
            return Ok(r.id.clone());
        }
    }
    anyhow::bail!(
        "release {} is not waiting at a gate for {env}: approvals are for a run that waits (see forge release list)",
        release.short()
    )
}

/// `forge release unpause`: promotion into the environment again.
pub(super) async fn unpause(args: UnpauseArgs, global: Global) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let actor = forge_ledger::actor_from_env();
    forge_steps::release::approval::set_paused(&ledger, &args.env, &actor, false, "unpaused")
        .await?;
    if global.json {
        print_json(
            &serde_json::json!({ "schema": "forge.release-unpause/v1", "environment": args.env, "by": actor }),
        );
    } else {
        println!("promotion into {} resumed by {actor}", args.env);
    }
    Ok(0)
}

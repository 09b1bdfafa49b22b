//! `forge deploy`: one service to one environment, from flake output to a
//! verified rollout. The steps come from `steps/` and `adapters/`; this
//! module orders them, records each in a [`DeployReport`] and decides the
//! exit status.

mod cluster;
mod context;
mod gitops;
mod publish;

use crate::cli::Global;
use crate::commands::config::ConfigArg;
use crate::commands::push::PublishFlags;
use crate::domain::deploy_config::types::RollbackPolicy;
use crate::domain::deploy_report::{DeployReport, Outcome, Status, Step};
use crate::output::print_json;

pub use cluster::{plan as plan_cluster, preflight, roll_back, ClusterOptions, Session};
pub use context::DeployContext;

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
/// Exit status: 0 deployed (or no-op, or dry run), 1 failed (also when rolled back).
///
/// Examples:
///   forge deploy app --env staging
///   forge deploy app --env production --dry-run
///   forge deploy api --env staging --config deploy/deploy.yaml --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DeployArgs {
    /// A key of `services:` in deploy.yaml.
    #[arg(value_name = "SERVICE")]
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
    pub cluster: ClusterOptions,
    #[command(flatten)]
    pub publish: PublishFlags,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RollbackArg {
    Auto,
    Manual,
}

pub async fn run(args: DeployArgs, global: Global) -> anyhow::Result<u8> {
    let ctx = DeployContext::load(&args.config, &args.service, &args.env, &args.cluster)?;
    let mut report = DeployReport::new("deploy", &args.service, &args.env);
    let result = deploy(&ctx, &args, &mut report).await;
    Ok(finish(report, result, global))
}

/// Records a failure as the outcome, prints the report and returns the exit status.
pub(crate) fn finish(mut report: DeployReport, result: anyhow::Result<()>, global: Global) -> u8 {
    if let Err(e) = result {
        report.outcome = Outcome::Failed {
            reason: format!("{e:#}"),
        };
    }
    print_report(&report, global);
    report.exit_status()
}

/// Prints the report: JSON on stdout with --json, else the summary. In a
/// GitHub Actions job it is also added to the job summary.
fn print_report(report: &DeployReport, global: Global) {
    if global.json {
        print_json(report);
    } else {
        print!("{}", report.render());
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{}", report.render_markdown()));
        if let Err(e) = appended {
            tracing::warn!(
                "cannot write the job summary to {}: {e}",
                path.to_string_lossy()
            );
        }
    }
}

async fn deploy(
    ctx: &DeployContext,
    args: &DeployArgs,
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let publish_opts = publish::PublishOptions {
        dry_run: args.dry_run,
        insecure_http: args.publish.insecure_http,
        jobs: args.publish.jobs,
        layer_cache: args.publish.layer_cache.clone(),
    };
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
    let published = publish::publish(ctx, &publish_opts, report).await?;
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
        let policy = match args.rollback {
            Some(RollbackArg::Auto) => RollbackPolicy::Auto,
            Some(RollbackArg::Manual) => RollbackPolicy::Manual,
            None => ctx.service.rollback,
        };
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

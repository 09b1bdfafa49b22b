//! Looking at and steering runs: `forge release plan|list|show|resume|cancel|audit`.

use std::sync::Arc;

use anyhow::Context as _;

use crate::flags::{ClusterFlags, ConfigArg, PublishFlags};
use crate::global::Global;
use crate::output::{print_json, ProgressView};
use forge_core::release::RunId;
use forge_ledger::RunFilter;
use forge_steps::release::RunRecorder;
use forge_steps::release::{absolute, plan_of, resume, RunSpec};

use super::outcome::{finish, print_plan, step_line};
use super::{open_ledger, run_options, LedgerFlags};

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

/// `forge release plan`: the step graph, nothing recorded.
pub(super) async fn plan(args: PlanArgs, global: Global) -> anyhow::Result<u8> {
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

/// `forge release list`: runs, newest first.
pub(super) async fn list(args: ListArgs, global: Global) -> anyhow::Result<u8> {
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

/// `forge release show`: one run, step by step.
pub(super) async fn show(args: ShowArgs, global: Global) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let id = RunId::parse(&args.run).map_err(anyhow::Error::msg)?;
    let run = ledger
        .run(&id)
        .await?
        .with_context(|| format!("no run {id} in the ledger"))?;
    let steps = ledger.steps(&id).await?;
    let waiting = forge_steps::release::promotion::gate_waits(&ledger, &run).await?;
    if global.json {
        print_json(&serde_json::json!({
            "schema": "forge.release-run/v1",
            "run": run,
            "steps": steps,
            "waiting": waiting,
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
        for (gate, why) in &waiting {
            println!("  {gate:<40} waiting   {why}");
        }
    }
    Ok(0)
}

/// `forge release resume`.
pub(super) async fn resume_run(args: ResumeArgs, global: Global) -> anyhow::Result<u8> {
    let ledger = open_ledger(&args.ledger, &args.config).await?;
    let id = RunId::parse(&args.run).map_err(anyhow::Error::msg)?;
    let options = run_options(&args.publish, &args.cluster, &args.ledger);
    let outcome = resume(&ledger, &id, &options, Arc::new(ProgressView::new())).await?;
    Ok(finish(&outcome, global))
}

/// `forge release cancel`.
pub(super) async fn cancel(args: CancelArgs, global: Global) -> anyhow::Result<u8> {
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

/// `forge release audit [--verify]`.
pub(super) async fn audit(args: AuditArgs, global: Global) -> anyhow::Result<u8> {
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

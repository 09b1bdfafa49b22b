//! `forge rollout`: watch a service's workload roll out in one environment.

use std::time::Duration;

use anyhow::{anyhow, Context as _};

use crate::exit::usage;
use crate::flags::ConfigArg;
use crate::global::Global;
use crate::output::{print_document, ProgressView};
use forge_adapters::kube::connect;
use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_core::exit_status::ExitStatus;
use forge_core::kube::pod_failure::{PodRules, DEFAULT_CRASHLOOP_RESTARTS};
use forge_steps::observer::{phase, Event, Observer as _};
use forge_steps::watch_rollout::{
    watch_rollout, RolloutOutcome, RolloutRequest, DEFAULT_LOG_LINES,
};

/// Watch a service's workload until it is rolled out, fails, or the timeout passes.
///
/// Reads the workload, kube context and rollout timeout of SERVICE in ENV
/// from deploy.yaml, then watches the workload and the pods of its new
/// revision. Current follows kubectl's rules (status of the current generation
/// only); it fails as soon as a new pod shows CrashLoopBackOff (after
/// --crashloop-restarts restarts), an image pull or container config error,
/// OOMKilled, or stays Pending longer than --pending-limit. On failure it
/// prints the reasons, the last log lines of each failing container (of the
/// crashed run when it restarted) and recent events.
///
/// Exit status: 0 rolled out, 1 failed (or the cluster could not be
/// watched), 2 bad configuration or no such workload, 3 timed out (still in
/// progress).
///
/// Examples:
///   forge rollout api --env staging
///   forge rollout api --env production --timeout 5m --image sha256:3f1c...
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RolloutArgs {
    /// The service (a key of `services:` in deploy.yaml).
    pub service: String,
    /// The environment (a key of `environments:`).
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// How long to wait (e.g. 90s, 5m) [default: the environment's rollout timeout].
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse)]
    pub timeout: Option<ConfigDuration>,
    /// Restarts after which a CrashLoopBackOff container counts as failed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CRASHLOOP_RESTARTS)]
    pub crashloop_restarts: u64,
    /// Only count the rollout once the pod template uses an image containing this (e.g. a digest).
    #[arg(long, value_name = "SUBSTR")]
    pub image: Option<String>,
    /// How long a new pod may stay Pending (e.g. unschedulable) before the rollout fails.
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse, default_value = "2m")]
    pub pending_limit: ConfigDuration,
    /// Log lines shown per failing container.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOG_LINES)]
    pub log_lines: usize,
}

/// Returns the exit status documented above (errors are classified by `exit`).
pub async fn run(args: RolloutArgs, global: Global) -> anyhow::Result<u8> {
    watch(&args, global).await
}

async fn watch(args: &RolloutArgs, global: Global) -> anyhow::Result<u8> {
    let config = args.config.load()?;
    let target = config.target(&args.service, &args.env)?;
    if !target.cluster {
        return Err(usage(anyhow!(
            "environment `{}` has `cluster: false` in {}: Forge cannot reach its cluster",
            args.env,
            config.file
        )));
    }
    let timeout = args.timeout.unwrap_or(target.rollout_timeout);
    let request = RolloutRequest {
        workload: target.workload.clone(),
        expect_image: args.image.clone(),
        timeout: Duration::from_secs(timeout.seconds()),
        rules: PodRules {
            crashloop_restarts: args.crashloop_restarts,
        },
        pending_limit: Duration::from_secs(args.pending_limit.seconds()),
        log_lines: args.log_lines,
    };
    let client = connect(target.kube_context.as_deref()).await?;
    let w = &target.workload;
    let progress = ProgressView::new();
    let report = phase(
        &progress,
        &format!("watching {:?} {}/{}", w.kind, w.namespace, w.name),
        watch_rollout(&client, &request, &|line: &str| {
            progress.event(Event::Detail(line))
        }),
    )
    .await
    .with_context(|| format!("watching the rollout of {} in {}", args.service, args.env))?;
    if global.json {
        print_document("rollout", &report);
    } else {
        print!("{}", report.render());
    }
    Ok(match report.outcome {
        RolloutOutcome::Current => ExitStatus::Success,
        RolloutOutcome::Failed { .. } => ExitStatus::Failed,
        RolloutOutcome::TimedOut { .. } => ExitStatus::InProgress,
    }
    .code())
}

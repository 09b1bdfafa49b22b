//! Running a service's migrations of one phase: as Kubernetes Jobs in the
//! environment's namespace (one per migration, named after the run and the
//! step so a resumed run adopts the Job it created instead of starting a
//! second), or, where the environment has `cluster: false`, as commands run
//! by Forge with the `FORGE_*` variables set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use forge_adapters::kube::connect;
use forge_adapters::kube::job::{create_or_adopt, get_with_pods, Created};
use forge_adapters::kube::workload::container_logs;
use forge_adapters::probe::run_command;
use forge_core::deploy_config::resolved::Migration;
use forge_core::deploy_config::types::MigrationPhase;
use forge_core::kube::migration_job::{job_verdict, JobVerdict, MigrationJob, CONTAINER};
use forge_core::release::{RunId, StepKey};

use crate::deploy::DeployContext;
use crate::observer::Event;

/// Lines of a migration's log kept in the step's outputs and errors.
const LOG_LINES: usize = 20;
/// How often a Job is looked at.
const POLL: Duration = Duration::from_millis(500);
/// Beyond the Job's own deadline, how long Forge waits for the Job
/// controller to say so (a controller that never answers must not hang us).
const DEADLINE_GRACE: Duration = Duration::from_secs(60);

/// What one migration did, kept in the step's outputs.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationOutcome {
    pub name: String,
    /// The Job (`namespace/name`), or `local` for a command run by Forge.
    pub ran_as: String,
    /// `created`, `adopted` (a resumed run found its Job) or `local`.
    pub how: &'static str,
    pub seconds: f64,
    pub log_tail: String,
}

/// What the migrations run with.
pub struct MigrationInput<'a> {
    pub run: &'a RunId,
    pub step: &'a StepKey,
    /// The image by digest, as the cluster pulls it.
    pub image: &'a str,
    pub release: Option<&'a str>,
}

/// Runs the service's migrations of `phase` (all of them when `None`), in
/// order; the first that fails stops the rest and fails the step with its
/// reason and last log lines.
pub async fn run_migrations(
    ctx: &DeployContext,
    phase: Option<MigrationPhase>,
    input: &MigrationInput<'_>,
) -> anyhow::Result<Vec<MigrationOutcome>> {
    let migrations: Vec<&Migration> = ctx
        .service
        .migrations
        .iter()
        .filter(|m| phase.is_none_or(|p| m.phase == p))
        .collect();
    let client = if ctx.target.cluster && !migrations.is_empty() {
        Some(connect(ctx.target.kube_context.as_deref()).await?)
    } else {
        None
    };
    let mut out = Vec::new();
    for m in migrations {
        let started = Instant::now();
        let outcome = match &client {
            Some(client) => run_job(ctx, client, m, input).await,
            None => run_local(ctx, m, input).await,
        }
        .with_context(|| format!("migration {}", m.name))?;
        ctx.observer.event(Event::Detail(&format!(
            "migration {} done in {:.1} s",
            m.name,
            started.elapsed().as_secs_f64()
        )));
        out.push(outcome);
    }
    Ok(out)
}

/// Runs one job-shaped command (a migration, or a product's integration
/// test with its own image) as a Job, or locally without a cluster.
pub async fn run_one(
    ctx: &DeployContext,
    m: &Migration,
    input: &MigrationInput<'_>,
) -> anyhow::Result<MigrationOutcome> {
    if ctx.target.cluster {
        let client = connect(ctx.target.kube_context.as_deref()).await?;
        run_job(ctx, &client, m, input).await
    } else {
        run_local(ctx, m, input).await
    }
}

async fn run_job(
    ctx: &DeployContext,
    client: &kube::Client,
    m: &Migration,
    input: &MigrationInput<'_>,
) -> anyhow::Result<MigrationOutcome> {
    let namespace = ctx.target.workload.namespace.as_str();
    let job = MigrationJob {
        run: input.run.as_str(),
        step: input.step.as_str(),
        service: &ctx.service.name,
        migration: &m.name,
        namespace,
        image: input.image,
        command: &m.command,
        timeout_seconds: m.timeout.0,
        env_from_secret: m.env_from_secret.as_deref(),
        env_from_config_map: m.env_from_config_map.as_deref(),
    };
    let name = job.name();
    let started = Instant::now();
    let created = create_or_adopt(client, &job.manifest())
        .await
        .with_context(|| format!("creating Job {namespace}/{name}"))?;
    ctx.observer.event(Event::Detail(&format!(
        "migration {}: Job {namespace}/{name} {}",
        m.name,
        if created == Created::Created {
            "created"
        } else {
            "adopted"
        }
    )));
    let deadline = Duration::from_secs(m.timeout.0) + DEADLINE_GRACE;
    let mut shown = 0usize;
    let (verdict, pod) = loop {
        let Some((job_json, pods)) = get_with_pods(client, namespace, &name).await? else {
            anyhow::bail!("Job {namespace}/{name} was deleted while it ran");
        };
        let pod = pods
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .next()
            .map(str::to_owned);
        // Stream what the migration logs while it runs, line by line.
        if let Some(p) = &pod {
            if let Ok(log) = container_logs(client, namespace, p, CONTAINER, false, 200).await {
                let lines: Vec<&str> = log.lines().collect();
                for line in lines.iter().skip(shown) {
                    ctx.observer.event(Event::Detail(line));
                }
                shown = shown.max(lines.len());
            }
        }
        match job_verdict(&job_json, &pods) {
            JobVerdict::Running if started.elapsed() > deadline => {
                anyhow::bail!(
                    "Job {namespace}/{name} did not finish within {} s (its deadline is {} s)",
                    deadline.as_secs(),
                    m.timeout.0
                )
            }
            JobVerdict::Running => tokio::time::sleep(POLL).await,
            v => break (v, pod),
        }
    };
    let logs = match &pod {
        Some(p) => container_logs(client, namespace, p, CONTAINER, false, LOG_LINES)
            .await
            .unwrap_or_else(|e| format!("(no logs: {e})")),
        None => String::new(),
    };
    match verdict {
        JobVerdict::Succeeded => Ok(MigrationOutcome {
            name: m.name.clone(),
            ran_as: format!("{namespace}/{name}"),
            how: if created == Created::Created {
                "created"
            } else {
                "adopted"
            },
            seconds: started.elapsed().as_secs_f64(),
            log_tail: logs,
        }),
        JobVerdict::Failed { reason, .. } => anyhow::bail!(
            "Job {namespace}/{name} failed: {reason}{}",
            indented_logs(&logs)
        ),
        JobVerdict::Running => unreachable!("the loop ends on a final verdict"),
    }
}

/// Without a cluster: the command runs here, with the variables a check gets.
/// It cannot be asked whether it already ran, so a resumed run runs it again
/// (local migrations must be idempotent, as migration tools make them).
async fn run_local(
    ctx: &DeployContext,
    m: &Migration,
    input: &MigrationInput<'_>,
) -> anyhow::Result<MigrationOutcome> {
    let vars = BTreeMap::from([
        ("FORGE_SERVICE", ctx.service.name.clone()),
        ("FORGE_ENV", ctx.target.env.clone()),
        ("FORGE_IMAGE", input.image.to_owned()),
        (
            "FORGE_RELEASE",
            input.release.unwrap_or_default().to_owned(),
        ),
        ("FORGE_MIGRATION", m.name.clone()),
        ("FORGE_RUN", input.run.as_str().to_owned()),
    ]);
    let started = Instant::now();
    let timeout = Duration::from_secs(m.timeout.0);
    let outcome = tokio::time::timeout(timeout, run_command(&m.command, &vars))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} did not finish within {} s",
                m.command.join(" "),
                m.timeout.0
            )
        })?
        .with_context(|| format!("running {}", m.command.join(" ")))?;
    let logs = [outcome.stdout_tail.as_str(), outcome.stderr_tail.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if !outcome.success {
        anyhow::bail!(
            "{}: {}{}",
            m.command.join(" "),
            outcome.status,
            indented_logs(&logs)
        );
    }
    Ok(MigrationOutcome {
        name: m.name.clone(),
        ran_as: "local".into(),
        how: "local",
        seconds: started.elapsed().as_secs_f64(),
        log_tail: logs,
    })
}

fn indented_logs(logs: &str) -> String {
    if logs.trim().is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = logs.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_LINES)..];
    format!(
        "\n  last log lines:\n{}",
        tail.iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

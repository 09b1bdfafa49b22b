//! Runs a [`ReleasePlan`]: each step's intent recorded in the ledger before
//! its side effect and its outcome after, artifacts published for every
//! service before any environment changes (the release is then known and
//! recorded), and on resume only what did not happen is done again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use forge_adapters::kube::connect;
use forge_core::deploy_config::types::RollbackPolicy;
use forge_core::deploy_config::DeployConfig;
use forge_core::deploy_report::DeployReport;
use forge_core::nix::store_path::StorePath;
use forge_core::release::{
    PlannedStep, Release, ReleaseId, ReleasePlan, RunId, RunState, ServiceArtifacts, StepKey,
    StepKind, StepState,
};
use forge_ledger::Ledger;

use super::crash_point::{crash_point, Boundary};
use super::recorder::RunRecorder;
use super::shape::shapes;
use super::verify::{run_checks, CheckEnv};
use crate::deploy::cluster::{self, Session};
use crate::deploy::gitops::{self, Landed, Pin, Purpose};
use crate::deploy::publish::{self, Published};
use crate::deploy::{ClusterOptions, DeployContext, PublishOptions};
use crate::observer::Observer;

/// What a run was asked for: kept with the run, so `forge release resume`
/// can carry on with the same request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// `orchestrate-release`.
    pub command: String,
    /// deploy.yaml, absolute.
    pub config: PathBuf,
    pub services: Vec<String>,
    pub environment: String,
    #[serde(default)]
    pub allow_add: bool,
}

/// One step as the run left it.
#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub key: StepKey,
    pub state: StepState,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a run ended (or stands).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub schema: &'static str,
    pub run: RunId,
    pub state: RunState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseId>,
    pub environment: String,
    pub steps: Vec<StepSummary>,
    /// The step that failed, with its error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<(StepKey, String)>,
}

/// The options a run's steps use.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub publish: PublishOptions,
    pub cluster: ClusterOptions,
    /// How long the run's leases last without a heartbeat.
    pub lease_ttl: std::time::Duration,
}

/// The plan of `spec` (no ledger, no side effect).
pub fn plan_of(spec: &RunSpec) -> anyhow::Result<(DeployConfig, ReleasePlan)> {
    let config = crate::config_file::load(&spec.config)?;
    let shapes = shapes(&config, &spec.services, &spec.environment)?;
    let plan = ReleasePlan::new(&spec.environment, &shapes)?;
    Ok((config, plan))
}

/// Starts a new run of `spec` and runs it to the end.
pub async fn orchestrate(
    ledger: &Ledger,
    spec: RunSpec,
    options: &RunOptions,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<RunOutcome> {
    let (config, plan) = plan_of(&spec)?;
    let recorder = RunRecorder::create(ledger, &spec, &plan, options.lease_ttl).await?;
    Runner::new(config, plan, spec, options, observer, recorder)?
        .run()
        .await
}

/// Carries on with `run` after a crash or a lost runner (taking over its
/// leases once they expired): steps that succeeded are not run again, and a
/// step caught in the middle is first asked whether its effect happened.
pub async fn resume(
    ledger: &Ledger,
    run: &RunId,
    options: &RunOptions,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<RunOutcome> {
    let (recorder, spec) = RunRecorder::resume(ledger, run, options.lease_ttl).await?;
    let (config, plan) = plan_of(&spec)?;
    Runner::new(config, plan, spec, options, observer, recorder)?
        .run()
        .await
}

struct Runner<'a> {
    plan: ReleasePlan,
    spec: RunSpec,
    options: &'a RunOptions,
    contexts: BTreeMap<String, DeployContext>,
    recorder: RunRecorder<'a>,
    /// Outputs of finished steps, by key.
    outputs: BTreeMap<StepKey, serde_json::Value>,
    release: Option<ReleaseId>,
}

/// What the build step leaves for the cache and image steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Built {
    /// Architecture → output paths.
    roots: Vec<(String, Vec<String>)>,
}

impl<'a> Runner<'a> {
    fn new(
        config: DeployConfig,
        plan: ReleasePlan,
        spec: RunSpec,
        options: &'a RunOptions,
        observer: Arc<dyn Observer>,
        recorder: RunRecorder<'a>,
    ) -> anyhow::Result<Self> {
        let mut contexts = BTreeMap::new();
        for service in plan.services() {
            let mut ctx = DeployContext::new(
                config.clone(),
                &spec.config,
                service,
                &spec.environment,
                observer.clone(),
            )?;
            options.cluster.apply(&mut ctx);
            contexts.insert(service.to_owned(), ctx);
        }
        Ok(Self {
            plan,
            spec,
            options,
            contexts,
            recorder,
            outputs: BTreeMap::new(),
            release: None,
        })
    }

    async fn run(mut self) -> anyhow::Result<RunOutcome> {
        // Publishing first for every service: the release (what ships) is
        // then complete before the environment changes.
        let (publish, change): (Vec<PlannedStep>, Vec<PlannedStep>) = self
            .plan
            .steps
            .clone()
            .into_iter()
            .partition(|s| !s.kind.touches_environment());
        let mut failed: Option<(StepKey, String)> = None;
        for (phase, steps) in [("publish", publish), ("change", change)] {
            for step in steps {
                if let Some(e) = self.run_step(&step, failed.is_some()).await? {
                    failed.get_or_insert(e);
                }
            }
            if phase == "publish" && failed.is_none() {
                self.record_release().await?;
            }
        }
        let state = if failed.is_some() {
            RunState::Failed
        } else {
            RunState::Succeeded
        };
        self.recorder.finish(state, self.release.as_ref()).await?;
        Ok(RunOutcome {
            schema: "forge.release-run/v1",
            run: self.recorder.run().clone(),
            state,
            release: self.release.clone(),
            environment: self.spec.environment.clone(),
            steps: self.recorder.summaries().await?,
            failed,
        })
    }

    /// Runs one step unless it is done; `Ok(Some(..))` when it failed.
    async fn run_step(
        &mut self,
        step: &PlannedStep,
        earlier_failure: bool,
    ) -> anyhow::Result<Option<(StepKey, String)>> {
        let key = &step.key;
        let (state, outputs) = self.recorder.state(key).await?;
        if state.is_done() {
            if let Some(out) = outputs {
                self.outputs.insert(key.clone(), out);
            }
            return Ok(None);
        }
        let blocked = step.after.iter().any(|dep| !self.outputs.contains_key(dep));
        if earlier_failure || blocked {
            self.recorder.skip(key, "an earlier step failed").await?;
            return Ok(None);
        }
        let interrupted = state == StepState::Running;
        self.recorder.start(key).await?;
        crash_point(key, Boundary::Before);
        let result = self.execute(step, interrupted).await;
        crash_point(key, Boundary::After);
        match result {
            Ok(out) => {
                self.recorder.succeed(key, out.clone()).await?;
                self.outputs.insert(key.clone(), out);
                Ok(None)
            }
            Err(e) => {
                let message = format!("{e:#}");
                self.recorder.fail(key, &message).await?;
                Ok(Some((key.clone(), message)))
            }
        }
    }

    fn ctx(&self, key: &StepKey) -> &DeployContext {
        &self.contexts[key.service()]
    }

    fn output<T: for<'de> Deserialize<'de>>(
        &self,
        key: &StepKey,
        kind: StepKind,
    ) -> anyhow::Result<T> {
        let k = StepKey::new(key.service(), key.environment(), kind.action());
        let v = self
            .outputs
            .get(&k)
            .with_context(|| format!("{k} left no outputs"))?;
        serde_json::from_value(v.clone()).with_context(|| format!("reading the outputs of {k}"))
    }

    async fn execute(
        &self,
        step: &PlannedStep,
        interrupted: bool,
    ) -> anyhow::Result<serde_json::Value> {
        let key = &step.key;
        let ctx = self.ctx(key);
        let mut report = DeployReport::new("release", key.service(), key.environment());
        let opts = &self.options.publish;
        let value = match step.kind {
            StepKind::Build => {
                let roots = publish::build(ctx, &mut report).await?;
                serde_json::to_value(Built {
                    roots: roots
                        .into_iter()
                        .map(|(arch, paths)| (arch, paths.iter().map(|p| p.to_string()).collect()))
                        .collect(),
                })?
            }
            StepKind::Cache => {
                let roots = self.roots(key)?;
                publish::push_closure(ctx, opts, &roots, &mut report).await?;
                summary(&report)
            }
            StepKind::Image => {
                let roots = self.roots(key)?;
                let published = publish::push_image(ctx, opts, &roots, &mut report).await?;
                serde_json::to_value(published)?
            }
            StepKind::Pin => {
                let published: Published = self.output(key, StepKind::Image)?;
                let remote = ctx.git_remote()?.context("no gitops: in deploy.yaml")?;
                let step_id = format!("{}/{key}", self.recorder.run());
                // A commit of this step that landed before a crash is adopted.
                let found = if interrupted {
                    let (r, id) = (remote.clone(), step_id.clone());
                    tokio::task::spawn_blocking(move || r.find_trailer("Forge-Step", &id, 200))
                        .await??
                } else {
                    None
                };
                let landed = match found {
                    Some(commit) => Landed {
                        commit: Some(commit),
                    },
                    None => {
                        let pin = Pin {
                            name: ctx.image_name(),
                            new_name: ctx.new_name(),
                            tag: published.tag.clone(),
                            digest: published.digest.clone(),
                            allow_add: self.spec.allow_add,
                        };
                        let purpose = Purpose::Deploy {
                            release: self.release.as_ref().map(|r| r.to_string()),
                            image: published.reference.clone(),
                            step: Some(step_id),
                        };
                        gitops::land(ctx, &remote, &pin, purpose, opts.dry_run, &mut report).await?
                    }
                };
                serde_json::to_value(landed)?
            }
            StepKind::Reconcile => {
                let landed: Landed = self.output(key, StepKind::Pin)?;
                let remote = ctx.git_remote()?.context("no gitops: in deploy.yaml")?;
                let client = connect(ctx.target.kube_context.as_deref()).await?;
                cluster::reconcile(ctx, &client, &remote, landed.commit.as_deref(), &mut report)
                    .await?;
                summary(&report)
            }
            StepKind::Rollout => {
                let published: Published = self.output(key, StepKind::Image)?;
                let landed: Landed = self.output(key, StepKind::Pin)?;
                let client = connect(ctx.target.kube_context.as_deref()).await?;
                let unchanged = landed.commit.is_none();
                let failure = cluster::rollout(
                    ctx,
                    &self.options.cluster,
                    &client,
                    &published.digest,
                    unchanged,
                    &mut report,
                )
                .await?;
                if let Some(reason) = failure {
                    if ctx.service.rollback == RollbackPolicy::Auto && !unchanged {
                        let remote = ctx.git_remote()?.context("no gitops: in deploy.yaml")?;
                        let session = Session {
                            ctx,
                            opts: &self.options.cluster,
                            remote: &remote,
                        };
                        let back =
                            cluster::roll_back(session, Some(&client), None, false, &mut report)
                                .await;
                        match back {
                            Ok(to) => anyhow::bail!("{reason}; rolled back to {to}"),
                            Err(e) => {
                                anyhow::bail!("{reason}; the automatic rollback failed too: {e:#}")
                            }
                        }
                    }
                    anyhow::bail!(reason);
                }
                summary(&report)
            }
            StepKind::Verify => {
                let published: Published = self.output(key, StepKind::Image)?;
                let env = CheckEnv {
                    service: key.service().to_owned(),
                    environment: key.environment().to_owned(),
                    image: published.reference.clone(),
                    release: self.release.as_ref().map(|r| r.to_string()),
                };
                let (results, passed) = run_checks(&ctx.target.verify, &env).await;
                if !passed {
                    let failed = results.last().expect("a failed check ran");
                    let last = failed
                        .attempts
                        .last()
                        .map(|a| a.detail.as_str())
                        .unwrap_or("");
                    let reason = format!("check {} failed: {last}", failed.name);
                    if ctx.service.rollback == RollbackPolicy::Auto {
                        if let Some(remote) = ctx.git_remote()? {
                            let client = if ctx.target.cluster {
                                Some(connect(ctx.target.kube_context.as_deref()).await?)
                            } else {
                                None
                            };
                            let session = Session {
                                ctx,
                                opts: &self.options.cluster,
                                remote: &remote,
                            };
                            let back = cluster::roll_back(
                                session,
                                client.as_ref(),
                                None,
                                false,
                                &mut report,
                            )
                            .await;
                            match back {
                                Ok(to) => anyhow::bail!("{reason}; rolled back to {to}"),
                                Err(e) => anyhow::bail!(
                                    "{reason}; the automatic rollback failed too: {e:#}"
                                ),
                            }
                        }
                    }
                    anyhow::bail!(reason);
                }
                serde_json::json!({ "checks": results })
            }
            StepKind::MigrateBefore | StepKind::MigrateAfter => {
                anyhow::bail!("{} steps are not supported yet", step.kind.action())
            }
        };
        Ok(value)
    }

    fn roots(&self, key: &StepKey) -> anyhow::Result<Vec<(String, Vec<StorePath>)>> {
        let built: Built = self.output(key, StepKind::Build)?;
        built
            .roots
            .into_iter()
            .map(|(arch, paths)| {
                let paths = paths
                    .iter()
                    .map(|p| StorePath::parse(p).map_err(|e| anyhow::anyhow!("{p}: {e}")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok((arch, paths))
            })
            .collect()
    }

    /// The release these artifacts make, recorded once (same content, same id).
    async fn record_release(&mut self) -> anyhow::Result<()> {
        let mut services = BTreeMap::new();
        for service in self.plan.services() {
            let build = StepKey::new(service, &self.spec.environment, "build");
            let image = StepKey::new(service, &self.spec.environment, "image");
            let (Some(built), Some(published)) =
                (self.outputs.get(&build), self.outputs.get(&image))
            else {
                continue;
            };
            let built: Built = serde_json::from_value(built.clone())?;
            let published: Published = serde_json::from_value(published.clone())?;
            services.insert(
                service.to_owned(),
                ServiceArtifacts {
                    store_paths: built
                        .roots
                        .into_iter()
                        .map(|(arch, paths)| (arch, paths.join(" ")))
                        .collect(),
                    image_digests: BTreeMap::new(),
                    pinned_digest: published.digest,
                    image: published.reference,
                    migrations: vec![],
                },
            );
        }
        let any = self.contexts.values().next().expect("a plan has services");
        let release = Release {
            flake: any.config.flake.clone(),
            revision: forge_adapters::git_rev::current_commit(&any.base),
            services,
        };
        self.release = Some(self.recorder.record_release(&release).await?);
        Ok(())
    }
}

/// The step line the pipeline recorded, as the step's outputs.
fn summary(report: &DeployReport) -> serde_json::Value {
    serde_json::json!({
        "summary": report.steps.last().map(|l| l.status.detail().to_owned()),
    })
}

/// deploy.yaml as an absolute path (a resumed run may start elsewhere).
pub fn absolute(config: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(config).with_context(|| format!("reading {}", config.display()))
}

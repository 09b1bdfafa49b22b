//! Runs a [`ReleasePlan`]: each step's intent recorded in the ledger before
//! its side effect and its outcome after, artifacts published for every
//! service before any environment changes (the release is then known and
//! recorded), and on resume only what did not happen is done again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::stream::{FuturesUnordered, StreamExt as _};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use forge_adapters::kube::connect;
use forge_core::deploy_config::types::{MigrationPhase, RollbackPolicy};
use forge_core::deploy_config::DeployConfig;
use forge_core::deploy_report::DeployReport;
use forge_core::nix::store_path::StorePath;
use forge_core::release::{
    PlannedStep, Release, ReleaseId, ReleasePlan, RunId, RunState, ServiceArtifacts, StepKey,
    StepKind, StepState,
};
use forge_ledger::Ledger;

use super::approval;
use super::crash_point::{crash_point, Boundary};
use super::recorder::now_ms;
use forge_core::release::gate::{self, GateFacts, GateVerdict};
use super::recorder::RunRecorder;
use super::shape::shapes;
use super::migrate::{run_migrations, MigrationInput};
use super::verify::{run_checks, CheckEnv};
use crate::deploy::cluster::{self, Session};
use crate::deploy::gitops::{self, Landed, Pin, Purpose};
use crate::deploy::publish::{self, Published};
use crate::deploy::{ClusterOptions, DeployContext, PublishOptions};
use crate::observer::{Event, Observer};

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
    /// `product-release`: the product (its environments replace `environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// `release-rollback` and `promote`: the recorded release whose digests
    /// are pinned (nothing is built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_release: Option<ReleaseId>,
}

/// One step as the run left it.
#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub key: StepKey,
    pub state: StepState,
    pub attempts: i64,
    /// How long its latest attempt took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
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
    /// Gates the run waits at, with what each still needs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<(StepKey, Vec<String>)>,
}

/// The options a run's steps use.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub publish: PublishOptions,
    pub cluster: ClusterOptions,
    /// How long the run's leases last without a heartbeat.
    pub lease_ttl: std::time::Duration,
    /// Steps run at the same time, at most (independent services in parallel).
    pub jobs: usize,
    /// How long a new run waits for another run's leases (`None`: it fails at once).
    pub lease_wait: Option<std::time::Duration>,
}

/// The plan of `spec` (no ledger, no side effect).
pub fn plan_of(spec: &RunSpec) -> anyhow::Result<(DeployConfig, ReleasePlan)> {
    let config = crate::config_file::load(&spec.config)?;
    if let Some(name) = &spec.product {
        let product = config.product(name)?;
        let envs = product
            .environments
            .iter()
            .map(|env| Ok((env.clone(), shapes(&config, &product.services, env)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let plan = ReleasePlan::product(name, &envs)?;
        let plan = match spec.command.as_str() {
            "prerelease" => plan.checked_first(name).first_environment_only(),
            "comprehensive-release" => {
                let plan = plan.checked_first(name);
                if config.product(name)?.integration_test.is_some() {
                    plan.with_integration_test(name)
                } else {
                    plan
                }
            }
            _ => plan,
        };
        return Ok((config, plan));
    }
    let shapes = shapes(&config, &spec.services, &spec.environment)?;
    let plan = if spec.pin_release.is_some() && spec.command == "promote" {
        ReleasePlan::promotion(&spec.environment, &shapes)?
    } else if spec.pin_release.is_some() {
        ReleasePlan::rollback(&spec.environment, &shapes)?
    } else if spec.command == "run-migrations" {
        ReleasePlan::migrations_only(&spec.environment, &shapes)?
    } else {
        ReleasePlan::new(&spec.environment, &shapes)?
    };
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
    let recorder =
        RunRecorder::create(ledger, &spec, &plan, options.lease_ttl, options.lease_wait).await?;
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
    /// Per service × environment.
    contexts: BTreeMap<(String, String), DeployContext>,
    recorder: RunRecorder<'a>,
    /// Outputs of succeeded steps, by key (steps running in parallel add theirs).
    outputs: Mutex<BTreeMap<StepKey, serde_json::Value>>,
    release: Option<ReleaseId>,
    observer: Arc<dyn Observer>,
}

/// How a step ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    Succeeded,
    /// Failed, skipped, or blocked: its dependants do not run.
    NotSucceeded(Option<String>),
    /// A gate not open yet: its dependants stay pending, the run waits.
    Waiting(Vec<String>),
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
        for (service, env) in plan.targets() {
            let mut ctx =
                DeployContext::new(config.clone(), &spec.config, service, env, observer.clone())?;
            options.cluster.apply(&mut ctx);
            contexts.insert((service.to_owned(), env.to_owned()), ctx);
        }
        Ok(Self {
            plan,
            spec,
            options,
            contexts,
            recorder,
            outputs: Mutex::new(BTreeMap::new()),
            release: None,
            observer,
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
        let mut ended: BTreeMap<StepKey, Ended> = BTreeMap::new();
        if let Some(to) = self.spec.pin_release.clone() {
            self.seed_from_release(&to).await?;
        }
        self.build_together(&publish, &mut ended).await?;
        self.run_steps(publish, &mut ended, false).await?;
        let published = ended.values().all(|e| *e == Ended::Succeeded);
        if published && self.release.is_none() {
            self.record_release().await?;
        }
        // Nothing changes an environment unless every service published.
        self.run_steps(change, &mut ended, !published).await?;
        let failed = self
            .plan
            .steps
            .iter()
            .find_map(|s| match ended.get(&s.key) {
                Some(Ended::NotSucceeded(Some(e))) => Some((s.key.clone(), e.clone())),
                _ => None,
            });
        let waiting: Vec<(StepKey, Vec<String>)> = self
            .plan
            .steps
            .iter()
            .filter_map(|s| match ended.get(&s.key) {
                Some(Ended::Waiting(why)) => Some((s.key.clone(), why.clone())),
                _ => None,
            })
            .collect();
        let state = if failed.is_some() {
            RunState::Failed
        } else if !waiting.is_empty() {
            RunState::Waiting
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
            waiting,
        })
    }

    /// Runs `steps` as their `after` edges allow, up to `jobs` at a time: a
    /// step starts once everything it waits for succeeded, and is skipped
    /// once one of those did not (`skip_all`: every step is skipped).
    async fn run_steps(
        &self,
        steps: Vec<PlannedStep>,
        ended: &mut BTreeMap<StepKey, Ended>,
        skip_all: bool,
    ) -> anyhow::Result<()> {
        let jobs = self.options.jobs.max(1);
        // Steps that ended already (the builds, done together) are not run again.
        let mut waiting: Vec<PlannedStep> = steps
            .into_iter()
            .filter(|s| !ended.contains_key(&s.key))
            .collect();
        let mut running = FuturesUnordered::new();
        loop {
            let mut i = 0;
            while i < waiting.len() {
                let step = &waiting[i];
                let blocked = skip_all
                    || step
                        .after
                        .iter()
                        .any(|d| matches!(ended.get(d), Some(Ended::NotSucceeded(_))));
                if blocked {
                    let step = waiting.remove(i);
                    self.skip(&step.key, ended).await?;
                    continue;
                }
                let ready = step
                    .after
                    .iter()
                    .all(|d| ended.get(d) == Some(&Ended::Succeeded));
                if ready && running.len() < jobs {
                    let step = waiting.remove(i);
                    running.push(async move {
                        let result = self.run_step(&step).await;
                        (step.key, result)
                    });
                    continue;
                }
                i += 1;
            }
            let Some((key, result)) = running.next().await else {
                break;
            };
            ended.insert(key, result?);
        }
        // What is left waits behind a gate that is not open yet.
        Ok(())
    }

    async fn skip(&self, key: &StepKey, ended: &mut BTreeMap<StepKey, Ended>) -> anyhow::Result<()> {
        let (state, _) = self.recorder.state(key).await?;
        if state != StepState::Skipped {
            let why = "an earlier step failed";
            self.recorder.skip(key, why).await?;
            self.tell(key, StepState::Skipped, Some(why));
        }
        ended.insert(key.clone(), Ended::NotSucceeded(None));
        Ok(())
    }

    fn tell(&self, key: &StepKey, state: StepState, detail: Option<&str>) {
        self.observer.event(Event::Step { key, state, detail });
    }

    /// Runs one step unless it already succeeded.
    async fn run_step(&self, step: &PlannedStep) -> anyhow::Result<Ended> {
        let key = &step.key;
        let (state, outputs) = self.recorder.state(key).await?;
        match state {
            StepState::Succeeded => {
                if let Some(out) = outputs {
                    self.outputs.lock().expect("not poisoned").insert(key.clone(), out);
                }
                return Ok(Ended::Succeeded);
            }
            StepState::Skipped => return Ok(Ended::NotSucceeded(None)),
            _ => {}
        }
        if step.kind == StepKind::Gate {
            // Deciding has no side effect: a closed gate is not started.
            match self.gate(key).await? {
                GateVerdict::Waiting(why) => {
                    self.tell(key, StepState::Pending, Some(&why.join("; ")));
                    return Ok(Ended::Waiting(why));
                }
                GateVerdict::Rejected(why) => {
                    self.recorder.start(key).await?;
                    self.recorder.fail(key, &why).await?;
                    self.tell(key, StepState::Failed, Some(&why));
                    return Ok(Ended::NotSucceeded(Some(why)));
                }
                GateVerdict::Open => {}
            }
        }
        let interrupted = state == StepState::Running;
        self.recorder.start(key).await?;
        self.tell(key, StepState::Running, None);
        crash_point(key, Boundary::Before);
        let result = self.execute(step, interrupted).await;
        crash_point(key, Boundary::After);
        match result {
            Ok(out) => {
                self.recorder.succeed(key, out.clone()).await?;
                self.tell(key, StepState::Succeeded, None);
                self.outputs.lock().expect("not poisoned").insert(key.clone(), out);
                Ok(Ended::Succeeded)
            }
            Err(e) => {
                let message = format!("{e:#}");
                self.recorder.fail(key, &message).await?;
                self.tell(key, StepState::Failed, Some(&message));
                Ok(Ended::NotSucceeded(Some(message)))
            }
        }
    }

    /// The build steps that have not succeeded yet, as one `nix build`; their
    /// outputs are recorded like any step's (a failed build fails each).
    async fn build_together(
        &self,
        publish: &[PlannedStep],
        ended: &mut BTreeMap<StepKey, Ended>,
    ) -> anyhow::Result<()> {
        let mut todo = Vec::new();
        for step in publish.iter().filter(|s| s.kind == StepKind::Build) {
            let (state, outputs) = self.recorder.state(&step.key).await?;
            if state == StepState::Succeeded {
                if let Some(out) = outputs {
                    self.outputs.lock().expect("not poisoned").insert(step.key.clone(), out);
                }
                ended.insert(step.key.clone(), Ended::Succeeded);
            } else {
                todo.push(step);
            }
        }
        if todo.len() < 2 {
            return Ok(());
        }
        for step in &todo {
            self.recorder.start(&step.key).await?;
            self.tell(&step.key, StepState::Running, None);
            crash_point(&step.key, Boundary::Before);
        }
        let ctxs: Vec<&DeployContext> = todo.iter().map(|s| self.ctx(&s.key)).collect();
        let results = publish::build_all(&ctxs).await;
        for (step, result) in todo.iter().zip(results) {
            crash_point(&step.key, Boundary::After);
            let key = &step.key;
            match result {
                Ok(roots) => {
                    let out = built_outputs(roots)?;
                    self.recorder.succeed(key, out.clone()).await?;
                    self.tell(key, StepState::Succeeded, None);
                    self.outputs.lock().expect("not poisoned").insert(key.clone(), out);
                    ended.insert(key.clone(), Ended::Succeeded);
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    self.recorder.fail(key, &message).await?;
                    self.tell(key, StepState::Failed, Some(&message));
                    ended.insert(key.clone(), Ended::NotSucceeded(Some(message)));
                }
            }
        }
        Ok(())
    }

    fn ctx(&self, key: &StepKey) -> &DeployContext {
        &self.contexts[&(key.service().to_owned(), key.environment().to_owned())]
    }

    /// The product's integration test: its own image as a Job in the first
    /// service's namespace of this environment (a command here where the
    /// environment has no cluster), adopted on resume like a migration.
    async fn integration_test(&self, key: &StepKey) -> anyhow::Result<serde_json::Value> {
        let product = self.spec.product.as_deref().context("an integration test outside a product")?;
        let any = self.contexts.values().next().expect("a plan has services");
        let test = any
            .config
            .product(product)?
            .integration_test
            .clone()
            .context("the product has no integration_test")?;
        let first = any.config.product(product)?.services[0].clone();
        let ctx = &self.contexts[&(first, key.environment().to_owned())];
        let release = self.release.as_ref().map(|r| r.to_string());
        let input = MigrationInput {
            run: self.recorder.run(),
            step: key,
            image: &test.image,
            release: release.as_deref(),
        };
        let outcome = super::migrate::run_one(ctx, &test.job, &input)
            .await
            .context("integration test")?;
        Ok(serde_json::json!({ "migrations": [outcome] }))
    }

    /// The product's flake checks: `nix flake check`, or each named
    /// `checks.<system>.<name>` built; their log lines go to the observer.
    async fn flake_checks(&self) -> anyhow::Result<serde_json::Value> {
        let any = self.contexts.values().next().expect("a plan has services");
        let product = self.spec.product.as_deref().context("checks outside a product release")?;
        let checks = any.config.product(product)?.checks.clone();
        let flake = crate::service_image::installable(&any.config, &any.config.flake, &any.base);
        let nix = forge_adapters::nix::NixCli::default();
        let observer = &*self.observer;
        let on_log = |l: &str| observer.event(Event::Detail(l));
        if checks.is_empty() {
            nix.flake_check(&flake, on_log).await?;
            return Ok(serde_json::json!({ "checks": "nix flake check", "flake": flake }));
        }
        let system = any.service.image.arch[0].nix_system();
        let installables: Vec<String> = checks
            .iter()
            .map(|c| format!("{flake}#checks.{system}.{c}"))
            .collect();
        nix.build(&installables, on_log).await?;
        Ok(serde_json::json!({ "checks": checks, "flake": flake }))
    }

    /// A rollback or a promotion publishes nothing: the image steps' outputs
    /// are the release's digests, as recorded.
    async fn seed_from_release(&mut self, to: &ReleaseId) -> anyhow::Result<()> {
        let release = self
            .recorder
            .ledger()
            .release(to)
            .await?
            .with_context(|| format!("no release {to} in the ledger"))?;
        for service in self.plan.services() {
            let shipped = release.services.get(service).with_context(|| {
                format!("release {} did not ship `{service}`", to.short())
            })?;
            let (_, tag) = shipped.image.split_once(':').unwrap_or(("", ""));
            let tag = tag.split('@').next().filter(|t| !t.is_empty());
            let published = Published {
                tag: tag.map(str::to_owned),
                digest: shipped.pinned_digest.clone(),
                reference: shipped.image.clone(),
            };
            let key = StepKey::new(service, &self.spec.environment, StepKind::Image.action());
            self.outputs
                .lock()
                .expect("not poisoned")
                .insert(key, serde_json::to_value(published)?);
        }
        self.recorder.set_release(to).await?;
        self.release = Some(to.clone());
        Ok(())
    }

    /// Whether the product's gate `key` is open: the upstream environment's
    /// steps of this run finished long enough ago, and enough people approved.
    async fn gate(&self, key: &StepKey) -> anyhow::Result<GateVerdict> {
        let product = self.spec.product.as_deref().context("a gate outside a product release")?;
        let config = &self.contexts.values().next().expect("a plan has services").config;
        let product = config.product(product)?;
        let env = key.environment();
        let upstream = product.upstream(env).context("a gate before the first environment")?;
        let steps = self.recorder.ledger().steps(self.recorder.run()).await?;
        let healthy_since = steps
            .iter()
            .filter(|s| s.key.environment() == upstream && s.state == StepState::Succeeded)
            .filter_map(|s| s.finished_at)
            .max();
        let release = self.release.as_ref().context("a gate before the release is recorded")?;
        let (approvers, rejected) = approval::decisions(self.recorder.ledger(), release, env).await?;
        let facts = GateFacts {
            upstream,
            healthy_since,
            approvers,
            rejected,
            paused_by: approval::paused_by(self.recorder.ledger(), env).await?,
        };
        Ok(gate::decide(&product.gate(env), env, &facts, now_ms()))
    }

    /// The step of `kind` for `key`'s service: in `key`'s environment, else
    /// (publishing happens once) wherever the plan has it.
    fn step_of(&self, key: &StepKey, kind: StepKind) -> StepKey {
        let here = StepKey::new(key.service(), key.environment(), kind.action());
        if self.plan.step(&here).is_some() {
            return here;
        }
        self.plan
            .steps
            .iter()
            .find(|s| s.kind == kind && s.key.service() == key.service())
            .map_or(here, |s| s.key.clone())
    }

    fn output<T: for<'de> Deserialize<'de>>(
        &self,
        key: &StepKey,
        kind: StepKind,
    ) -> anyhow::Result<T> {
        let k = self.step_of(key, kind);
        let v = self
            .outputs
            .lock()
            .expect("not poisoned")
            .get(&k)
            .cloned()
            .with_context(|| format!("{k} left no outputs"))?;
        serde_json::from_value(v).with_context(|| format!("reading the outputs of {k}"))
    }

    async fn execute(
        &self,
        step: &PlannedStep,
        interrupted: bool,
    ) -> anyhow::Result<serde_json::Value> {
        let key = &step.key;
        if step.kind == StepKind::Gate {
            // Opened by `run_step` before it got here.
            return Ok(serde_json::json!({ "gate": "open" }));
        }
        if step.kind == StepKind::Check {
            return self.flake_checks().await;
        }
        if step.kind == StepKind::IntegrationTest {
            return self.integration_test(key).await;
        }
        let ctx = self.ctx(key);
        let mut report = DeployReport::new("release", key.service(), key.environment());
        let opts = &self.options.publish;
        let value = match step.kind {
            StepKind::Build => {
                let roots = publish::build(ctx, &mut report).await?;
                built_outputs(roots)?
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
                let published: Published = self.output(key, StepKind::Image)?;
                let phase = if step.kind == StepKind::MigrateBefore {
                    MigrationPhase::Before
                } else {
                    MigrationPhase::After
                };
                let image = format!("{}@{}", ctx.pull_name(), published.digest);
                let release = self.release.as_ref().map(|r| r.to_string());
                let input = MigrationInput {
                    run: self.recorder.run(),
                    step: key,
                    image: &image,
                    release: release.as_deref(),
                };
                let outcomes = run_migrations(ctx, Some(phase), &input).await?;
                serde_json::json!({ "migrations": outcomes })
            }
            StepKind::Gate
            | StepKind::Check
            | StepKind::IntegrationTest
            | StepKind::Deploy
            | StepKind::Rollback => {
                anyhow::bail!("{key} is a whole command's step, not a release step")
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
            let any = StepKey::new(service, &self.plan.environments()[0], "build");
            let (build, image) = (
                self.step_of(&any, StepKind::Build),
                self.step_of(&any, StepKind::Image),
            );
            let outputs = self.outputs.lock().expect("not poisoned").clone();
            let (Some(built), Some(published)) = (outputs.get(&build), outputs.get(&image)) else {
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
                    migrations: self.ctx(&build)
                        .service
                        .migrations
                        .iter()
                        .map(|m| m.name.clone())
                        .collect(),
                },
            );
        }
        let any = self.contexts.values().next().expect("a plan has services");
        let release = Release {
            flake: any.config.flake.clone(),
            revision: forge_adapters::git_rev::current_commit(&crate::service_image::revision_dir(
                &any.config,
                &any.base,
            )),
            services,
        };
        self.release = Some(self.recorder.record_release(&release).await?);
        Ok(())
    }
}

/// A build step's outputs.
fn built_outputs(roots: Vec<(String, Vec<StorePath>)>) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(Built {
        roots: roots
            .into_iter()
            .map(|(arch, paths)| (arch, paths.iter().map(|p| p.to_string()).collect()))
            .collect(),
    })?)
}

/// The step line the pipeline recorded, as the step's outputs.
fn summary(report: &DeployReport) -> serde_json::Value {
    serde_json::json!({
        "summary": report.steps.last().map(|l| l.status.detail().to_owned()),
    })
}

/// deploy.yaml as an absolute path (a resumed run may start elsewhere).
pub fn absolute(config: &Path) -> anyhow::Result<PathBuf> {
    crate::config_file::absolute(config).with_context(|| format!("reading {}", config.display()))
}

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
pub use super::spec::{plan_of, RunSpec, StepSummary};
use crate::deploy::publish::{self, Published};
use crate::deploy::{ClusterOptions, DeployContext, PublishOptions};
use crate::observer::{Event, Observer};
use forge_core::release::gate::GateVerdict;

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

pub(super) struct Runner<'a> {
    pub(super) plan: ReleasePlan,
    pub(super) spec: RunSpec,
    pub(super) options: &'a RunOptions,
    /// Per service × environment.
    pub(super) contexts: BTreeMap<(String, String), DeployContext>,
    pub(super) recorder: RunRecorder<'a>,
    /// Outputs of succeeded steps, by key (steps running in parallel add theirs).
    pub(super) outputs: Mutex<BTreeMap<StepKey, serde_json::Value>>,
    pub(super) release: Option<ReleaseId>,
    pub(super) observer: Arc<dyn Observer>,
    /// The configuration the plan came from (hosts have no context).
    pub(super) config: DeployConfig,
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
pub(super) struct Built {
    /// Architecture → output paths.
    pub(super) roots: Vec<(String, Vec<String>)>,
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
            config,
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

    async fn skip(
        &self,
        key: &StepKey,
        ended: &mut BTreeMap<StepKey, Ended>,
    ) -> anyhow::Result<()> {
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
                    self.outputs
                        .lock()
                        .expect("not poisoned")
                        .insert(key.clone(), out);
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
                self.outputs
                    .lock()
                    .expect("not poisoned")
                    .insert(key.clone(), out);
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
                    self.outputs
                        .lock()
                        .expect("not poisoned")
                        .insert(step.key.clone(), out);
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
                    self.outputs
                        .lock()
                        .expect("not poisoned")
                        .insert(key.clone(), out);
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

    pub(super) fn ctx(&self, key: &StepKey) -> &DeployContext {
        &self.contexts[&(key.service().to_owned(), key.environment().to_owned())]
    }

    /// The step of `kind` for `key`'s service: in `key`'s environment, else
    /// (publishing happens once) wherever the plan has it.
    pub(super) fn step_of(&self, key: &StepKey, kind: StepKind) -> StepKey {
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

    pub(super) fn output<T: for<'de> Deserialize<'de>>(
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

    /// The release these artifacts make, recorded once (same content, same id).
    async fn record_release(&mut self) -> anyhow::Result<()> {
        let mut services = BTreeMap::new();
        for service in self.plan.services() {
            let any = StepKey::new(service, self.plan.environments()[0], "build");
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
                    migrations: self
                        .ctx(&build)
                        .service
                        .migrations
                        .iter()
                        .map(|m| m.name.clone())
                        .collect(),
                },
            );
        }
        // A product of hosts only ships no service artifacts: no release.
        let Some(any) = self.contexts.values().next() else {
            return Ok(());
        };
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
pub(super) fn built_outputs(
    roots: Vec<(String, Vec<StorePath>)>,
) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(Built {
        roots: roots
            .into_iter()
            .map(|(arch, paths)| (arch, paths.iter().map(|p| p.to_string()).collect()))
            .collect(),
    })?)
}

/// The step line the pipeline recorded, as the step's outputs.
pub(super) fn summary(report: &DeployReport) -> serde_json::Value {
    serde_json::json!({
        "summary": report.steps.last().map(|l| l.status.detail().to_owned()),
    })
}

/// deploy.yaml as an absolute path (a resumed run may start elsewhere).
pub fn absolute(config: &Path) -> anyhow::Result<PathBuf> {
    crate::config_file::absolute(config).with_context(|| format!("reading {}", config.display()))
}

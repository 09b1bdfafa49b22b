//! What each kind of step does in a release run: the side effects, by way
//! of the deploy pipeline's pieces (publish, GitOps, Flux, rollout), the
//! migrations and the verification checks.

use anyhow::Context as _;

use forge_adapters::kube::connect;
use forge_core::deploy_config::types::{MigrationPhase, RollbackPolicy};
use forge_core::deploy_report::DeployReport;
use forge_core::nix::store_path::StorePath;
use forge_core::release::{PlannedStep, StepKey, StepKind};

use super::migrate::{run_migrations, MigrationInput};
use super::runner::{built_outputs, summary, Built, Runner};
use super::verify::{run_checks, CheckEnv};
use crate::deploy::cluster::{self, Session};
use crate::deploy::gitops::{self, Landed, Pin, Purpose};
use crate::deploy::publish::{self, Published};

impl Runner<'_> {
    pub(super) async fn execute(
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
        if step.kind == StepKind::HostDeploy {
            return self.deploy_host(key).await;
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
            | StepKind::HostDeploy
            | StepKind::Deploy
            | StepKind::Rollback => {
                anyhow::bail!("{key} is a whole command's step, not a release step")
            }
        };
        Ok(value)
    }

    pub(super) fn roots(&self, key: &StepKey) -> anyhow::Result<Vec<(String, Vec<StorePath>)>> {
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
}

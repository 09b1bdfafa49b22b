//! The steps only product releases have: promotion gates, flake checks,
//! the integration test, and the digests a rollback or promotion pins.

use anyhow::Context as _;

use forge_core::release::gate::{self, GateFacts, GateVerdict};
use forge_core::release::{ReleaseId, StepKey, StepKind, StepState};

use super::approval;
use super::migrate::MigrationInput;
use super::recorder::now_ms;
use super::runner::Runner;
use super::verify::{run_checks, CheckEnv};
use crate::deploy::publish::Published;
use crate::observer::Event;

impl Runner<'_> {
    /// The product's integration test: its own image as a Job in the first
    /// service's namespace of this environment (a command here where the
    /// environment has no cluster), adopted on resume like a migration.
    pub(super) async fn integration_test(
        &self,
        key: &StepKey,
    ) -> anyhow::Result<serde_json::Value> {
        let product = self
            .spec
            .product
            .as_deref()
            .context("an integration test outside a product")?;
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

    /// A product's NixOS host: its system built, pushed and pinned for its
    /// agent, as `forge deploy HOST` does (a rerun pins nothing new).
    pub(super) async fn deploy_host(&self, key: &StepKey) -> anyhow::Result<serde_json::Value> {
        let request = crate::host::HostDeployRequest {
            dry_run: false,
            release: self.release.as_ref().map(|r| r.to_string()),
            actor: forge_ledger::actor_from_env(),
            publish: self.options.publish.clone(),
        };
        let mut report = forge_core::deploy_report::DeployReport::new(
            "deploy",
            key.service(),
            key.environment(),
        );
        crate::host::deploy_host(
            &self.config,
            &self.spec.config,
            key.service(),
            key.environment(),
            &request,
            self.observer.clone(),
            &mut report,
        )
        .await?;
        Ok(serde_json::json!({ "system": report.image, "commit": report.commit }))
    }

    /// The product's flake checks: `nix flake check`, or each named
    /// `checks.<system>.<name>` built; their log lines go to the observer.
    pub(super) async fn flake_checks(&self) -> anyhow::Result<serde_json::Value> {
        let any = self.contexts.values().next().expect("a plan has services");
        let product = self
            .spec
            .product
            .as_deref()
            .context("checks outside a product release")?;
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
    pub(super) async fn seed_from_release(&mut self, to: &ReleaseId) -> anyhow::Result<()> {
        let release = self
            .recorder
            .ledger()
            .release(to)
            .await?
            .with_context(|| format!("no release {to} in the ledger"))?;
        for service in self.plan.services() {
            let shipped = release
                .services
                .get(service)
                .with_context(|| format!("release {} did not ship `{service}`", to.short()))?;
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
    pub(super) async fn gate(&self, key: &StepKey) -> anyhow::Result<GateVerdict> {
        let product = self
            .spec
            .product
            .as_deref()
            .context("a gate outside a product release")?;
        let product = self.config.product(product)?;
        let env = key.environment();
        let upstream = product
            .upstream(env)
            .context("a gate before the first environment")?;
        let steps = self.recorder.ledger().steps(self.recorder.run()).await?;
        let healthy_since = steps
            .iter()
            .filter(|s| s.key.environment() == upstream && s.state == StepState::Succeeded)
            .filter_map(|s| s.finished_at)
            .max();
        let release = self
            .release
            .as_ref()
            .context("a gate before the release is recorded")?;
        let (approvers, rejected) =
            approval::decisions(self.recorder.ledger(), release, env).await?;
        let facts = GateFacts {
            upstream,
            healthy_since,
            approvers,
            rejected,
            paused_by: approval::paused_by(self.recorder.ledger(), env).await?,
        };
        let gate = product.gate(env);
        let verdict = gate::decide(&gate, env, &facts, now_ms());
        if verdict != GateVerdict::Open || gate.verify.is_empty() {
            return Ok(verdict);
        }
        // Open otherwise: the named checks, once more, against the
        // environment before, right as the release would leave it.
        for service in &product.services {
            let ctx = &self.contexts[&(service.clone(), upstream.to_owned())];
            let checks: Vec<_> = ctx
                .target
                .verify
                .iter()
                .filter(|c| gate.verify.contains(&c.name))
                .cloned()
                .collect();
            if checks.is_empty() {
                continue;
            }
            let published: Published =
                self.output(&StepKey::new(service, upstream, "image"), StepKind::Image)?;
            let env_vars = CheckEnv {
                service: service.clone(),
                environment: upstream.to_owned(),
                image: published.reference,
                release: Some(release.to_string()),
            };
            let (results, passed) = run_checks(&checks, &env_vars).await;
            if !passed {
                let failed = results.last().expect("a failed check ran");
                let detail = failed
                    .attempts
                    .last()
                    .map(|a| a.detail.as_str())
                    .unwrap_or("");
                return Ok(GateVerdict::Rejected(format!(
                    "check {} of {service} failed in {upstream} as the gate would open: {detail}",
                    failed.name
                )));
            }
        }
        Ok(GateVerdict::Open)
    }
}

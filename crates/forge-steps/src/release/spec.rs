//! What a run was asked for, how it is planned from that, and how its steps
//! are reported: shared by the runner and the recorder (which re-plans a
//! run it resumes).

use forge_core::deploy_config::DeployConfig;
use forge_core::release::{ReleaseId, ReleasePlan, StepKey, StepState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::shape::shapes;

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
        let hosts: Vec<(String, String)> = product
            .hosts
            .iter()
            .map(|h| Ok((h.clone(), config.host(h)?.environment.clone())))
            .collect::<anyhow::Result<_>>()?;
        let plan = ReleasePlan::product(name, &envs)?.with_hosts(name, &hosts);
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

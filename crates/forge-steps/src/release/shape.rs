//! What the planner needs of each service, read from deploy.yaml.

use forge_core::deploy_config::types::MigrationPhase;
use forge_core::deploy_config::DeployConfig;
use forge_core::release::plan::ServiceShape;

/// The shapes of `services` in `environment` (unknown names are errors
/// naming what exists).
pub fn shapes(
    config: &DeployConfig,
    services: &[String],
    environment: &str,
) -> anyhow::Result<Vec<ServiceShape>> {
    services
        .iter()
        .map(|name| {
            let service = config.service(name)?;
            let target = config.target(name, environment)?;
            Ok(ServiceShape {
                name: name.clone(),
                // Order among the services released together; the others
                // are already where they are.
                depends_on: service
                    .depends_on
                    .iter()
                    .filter(|d| services.contains(d))
                    .cloned()
                    .collect(),
                has_cache: config.cache.is_some(),
                has_gitops: config.gitops.is_some(),
                has_cluster: target.cluster,
                migrations_before: service
                    .migrations_of(MigrationPhase::Before)
                    .next()
                    .is_some(),
                migrations_after: service
                    .migrations_of(MigrationPhase::After)
                    .next()
                    .is_some(),
                has_verify: !target.verify.is_empty(),
            })
        })
        .collect()
}

//! What the planner needs of each service, read from deploy.yaml.

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
                depends_on: service.depends_on.clone(),
                has_cache: config.cache.is_some(),
                has_gitops: config.gitops.is_some(),
                has_cluster: target.cluster,
                migrations_before: false,
                migrations_after: false,
                has_verify: !target.verify.is_empty(),
            })
        })
        .collect()
}

//! One service in one environment, as the status sides read it.

use forge_core::deploy_config::resolved::{ObjectRef, Workload};

/// One service in one environment, with what its sides need to know.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub service: String,
    pub environment: String,
    pub kustomization: String,
    /// The `images:` entry name.
    pub image_name: String,
    /// Where pods pull it from (the pin's `newName`, else the name).
    pub repository: String,
    pub cluster: bool,
    pub kube_context: Option<String>,
    pub flux_kustomization: ObjectRef,
    pub workload: Workload,
}

impl Target {
    pub fn key(&self) -> (String, String) {
        (self.service.clone(), self.environment.clone())
    }
}

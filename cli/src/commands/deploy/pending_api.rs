// TEMPORARY (not to be committed): the agreed step signatures, until the Flux
// and rollout steps land.
#![allow(dead_code, unused)]
use crate::domain::deploy_config::resolved::{ObjectRef, Workload};
pub struct FluxRequest {
    pub source: ObjectRef,
    pub kustomization: ObjectRef,
    pub commit: Option<String>,
    pub accept_descendant: Option<std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>>,
    pub timeout: std::time::Duration,
}
pub struct FluxReport { pub revision: String, pub token: String, pub elapsed: std::time::Duration }
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct FluxError;
pub async fn reconcile_flux(client: &kube::Client, req: &FluxRequest, progress: &(dyn Fn(&str) + Sync)) -> Result<FluxReport, FluxError> { todo!() }

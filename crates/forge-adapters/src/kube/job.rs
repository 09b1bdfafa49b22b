//! Migration Jobs: created once (an existing Job of the same name is
//! adopted, never duplicated), watched with their pods, and their logs read.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

use super::workload::to_json;

/// Whether [`create_or_adopt`] made the Job or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// A Job of this name existed (a resumed run's): it is the one waited for.
    Adopted,
}

/// Creates the Job `manifest` (batch/v1 JSON) unless one of its name exists.
pub async fn create_or_adopt(client: &Client, manifest: &Value) -> Result<Created, kube::Error> {
    let namespace = manifest["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let job: Job = serde_json::from_value(manifest.clone()).map_err(kube::Error::SerdeError)?;
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), &job).await {
        Ok(_) => Ok(Created::Created),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Created::Adopted),
        Err(e) => Err(e),
    }
}

/// The Job and its pods (by the Job controller's `job-name` label), as JSON;
/// `None` when the Job is gone.
pub async fn get_with_pods(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<(Value, Vec<Value>)>, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let Some(job) = jobs.get_opt(name).await? else {
        return Ok(None);
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await?;
    let pods = list.items.iter().map(to_json).collect();
    Ok(Some((to_json(&job), pods)))
}

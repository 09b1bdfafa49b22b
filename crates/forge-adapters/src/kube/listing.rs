//! Whole-namespace lists (one call per kind per namespace, however many
//! services live there): what `forge status` reads. Objects as JSON, like
//! the rest of this adapter, for the rules in forge-core.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use forge_core::deploy_config::types::WorkloadKind;
use forge_core::kube::flux_progress::FluxKind;

/// Every workload of `kind` in `namespace`.
pub async fn workloads(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
) -> Result<Vec<Value>, kube::Error> {
    match kind {
        WorkloadKind::Deployment => list::<Deployment>(client, namespace).await,
        WorkloadKind::StatefulSet => list::<StatefulSet>(client, namespace).await,
        WorkloadKind::DaemonSet => list::<DaemonSet>(client, namespace).await,
    }
}

/// Every pod in `namespace`.
pub async fn pods(client: &Client, namespace: &str) -> Result<Vec<Value>, kube::Error> {
    list::<Pod>(client, namespace).await
}

/// Every Flux object of `kind` in `namespace` (`kind` and `apiVersion` set:
/// list items come without them).
pub async fn flux_objects(
    client: &Client,
    kind: FluxKind,
    namespace: &str,
) -> Result<Vec<Value>, kube::Error> {
    let resource = super::flux::api_resource(kind);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let list = api.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .map(|o| {
            let mut v = serde_json::to_value(o).expect("a Kubernetes object serialises");
            v["apiVersion"] = Value::String(resource.api_version.clone());
            v["kind"] = Value::String(resource.kind.clone());
            v
        })
        .collect())
}

async fn list<K>(client: &Client, namespace: &str) -> Result<Vec<Value>, kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default()).await?;
    // k8s-openapi types serialise with their `apiVersion` and `kind`.
    Ok(list
        .items
        .iter()
        .map(|o| serde_json::to_value(o).expect("Kubernetes objects serialise to JSON"))
        .collect())
}

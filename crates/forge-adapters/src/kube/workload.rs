//! Workloads, their ReplicaSets and pods, logs and events.
//!
//! Objects are handed out as JSON ([`serde_json::Value`], with `apiVersion`
//! and `kind` set) because the rollout rules in `domain` read JSON. The typed
//! k8s-openapi structs are only the wire format.

use std::fmt::Debug;

use futures::stream::{self, BoxStream, StreamExt as _};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, LogParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt as _;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use forge_core::deploy_config::types::WorkloadKind;

/// Which watch an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Workload,
    /// ReplicaSets (Deployment) or ControllerRevisions (DaemonSet).
    Revisions,
    Pods,
}

/// One watch event, objects as JSON.
pub type FeedEvent = Result<(Feed, watcher::Event<Value>), watcher::Error>;

/// The workload `kind` `namespace/name`, `None` when it does not exist.
pub async fn get(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, kube::Error> {
    async fn get_as<K>(client: &Client, ns: &str, name: &str) -> Result<Option<Value>, kube::Error>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        Ok(api.get_opt(name).await?.map(|o| to_json(&o)))
    }
    match kind {
        WorkloadKind::Deployment => get_as::<Deployment>(client, namespace, name).await,
        WorkloadKind::StatefulSet => get_as::<StatefulSet>(client, namespace, name).await,
        WorkloadKind::DaemonSet => get_as::<DaemonSet>(client, namespace, name).await,
    }
}

/// Watches the workload (by name), its revisions and its pods (by
/// `selector`), merged into one stream. Watch errors are yielded and the
/// watches retry with client-go's backoff.
pub fn watch(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    selector: &str,
) -> BoxStream<'static, FeedEvent> {
    let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let by_labels = || watcher::Config::default().labels(selector);
    let api = || client.clone();
    let workload = match kind {
        WorkloadKind::Deployment => feed::<Deployment>(api(), namespace, by_name, Feed::Workload),
        WorkloadKind::StatefulSet => feed::<StatefulSet>(api(), namespace, by_name, Feed::Workload),
        WorkloadKind::DaemonSet => feed::<DaemonSet>(api(), namespace, by_name, Feed::Workload),
    };
    let revisions = match kind {
        WorkloadKind::Deployment => {
            feed::<ReplicaSet>(api(), namespace, by_labels(), Feed::Revisions)
        }
        WorkloadKind::DaemonSet => {
            feed::<ControllerRevision>(api(), namespace, by_labels(), Feed::Revisions)
        }
        // A StatefulSet's pods name their revision (`status.updateRevision`) directly.
        WorkloadKind::StatefulSet => {
            stream::iter([Ok((Feed::Revisions, watcher::Event::InitDone))]).boxed()
        }
    };
    let pods = feed::<Pod>(api(), namespace, by_labels(), Feed::Pods);
    stream::select(stream::select(workload, revisions), pods).boxed()
}

fn feed<K>(
    client: Client,
    namespace: &str,
    config: watcher::Config,
    feed: Feed,
) -> BoxStream<'static, FeedEvent>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client, namespace);
    watcher(api, config)
        .default_backoff()
        .map(move |event| {
            event.map(|e| {
                let e = match e {
                    watcher::Event::Apply(o) => watcher::Event::Apply(to_json(&o)),
                    watcher::Event::Delete(o) => watcher::Event::Delete(to_json(&o)),
                    watcher::Event::InitApply(o) => watcher::Event::InitApply(to_json(&o)),
                    watcher::Event::Init => watcher::Event::Init,
                    watcher::Event::InitDone => watcher::Event::InitDone,
                };
                (feed, e)
            })
        })
        .boxed()
}

/// k8s-openapi types serialise with their `apiVersion` and `kind`.
pub(crate) fn to_json<K: Serialize>(object: &K) -> Value {
    serde_json::to_value(object).expect("Kubernetes objects serialise to JSON")
}

/// The last `lines` lines a container logged; with `previous`, those of its
/// last terminated run (what a crash-looping container said before dying).
pub async fn container_logs(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
    lines: usize,
) -> Result<String, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        container: Some(container.to_owned()),
        previous,
        tail_lines: Some(i64::try_from(lines).unwrap_or(i64::MAX)),
        ..LogParams::default()
    };
    api.logs(pod, &params).await
}

/// Events in `namespace` about the object `kind` `name` (core/v1 Events).
pub async fn events_about(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Vec<Value>, kube::Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!(
        "involvedObject.kind={kind},involvedObject.name={name}"
    ));
    Ok(api.list(&params).await?.items.iter().map(to_json).collect())
}

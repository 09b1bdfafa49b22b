//! Flux GitRepository (`source.toolkit.fluxcd.io/v1`) and Kustomization
//! (`kustomize.toolkit.fluxcd.io/v1`) objects: read, watch, annotate.
//!
//! Objects are handed out as JSON (with `apiVersion` and `kind`) because the
//! rules in `domain::flux_progress` read JSON; no Flux types are compiled in.

use futures::stream::{BoxStream, StreamExt as _};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt as _;
use kube::{Api, Client};
use serde_json::{json, Value};

use forge_core::deploy_config::resolved::ObjectRef;
use forge_core::kube::flux_progress::FluxKind;

/// The annotation whose new value asks a Flux controller to reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// Our field manager: kustomize-controller strips fields owned by `kubectl`, never by us.
pub const FIELD_MANAGER: &str = "forge";

/// One watch event, the object as JSON.
pub type FluxEvent = Result<watcher::Event<Value>, watcher::Error>;

pub fn api_resource(kind: FluxKind) -> ApiResource {
    let (group, plural) = match kind {
        FluxKind::GitRepository => ("source.toolkit.fluxcd.io", "gitrepositories"),
        FluxKind::Kustomization => ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    };
    let gvk = GroupVersionKind::gvk(group, "v1", &kind.to_string());
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

fn api(client: &Client, kind: FluxKind, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource(kind))
}

/// The object, `None` when it does not exist.
pub async fn get(
    client: &Client,
    kind: FluxKind,
    object: &ObjectRef,
) -> Result<Option<Value>, kube::Error> {
    let found = api(client, kind, &object.namespace)
        .get_opt(&object.name)
        .await?;
    Ok(found.map(|o| to_json(&o)))
}

/// Sets `reconcile.fluxcd.io/requestedAt` to `token` (a merge patch on the
/// metadata, as `flux reconcile` does, with our field manager).
pub async fn request_reconcile(
    client: &Client,
    kind: FluxKind,
    object: &ObjectRef,
    token: &str,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT: token}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api(client, kind, &object.namespace)
        .patch(&object.name, &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Watches the one object (field selector on its name). Errors are yielded;
/// the watcher then retries with client-go's backoff, re-listing when its
/// resource version is gone.
pub fn watch(client: &Client, kind: FluxKind, object: &ObjectRef) -> BoxStream<'static, FluxEvent> {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", object.name));
    watcher(api(client, kind, &object.namespace), config)
        .default_backoff()
        .map(|event| {
            event.map(|e| match e {
                watcher::Event::Apply(o) => watcher::Event::Apply(to_json(&o)),
                watcher::Event::Delete(o) => watcher::Event::Delete(to_json(&o)),
                watcher::Event::InitApply(o) => watcher::Event::InitApply(to_json(&o)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            })
        })
        .boxed()
}

fn to_json(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("a Kubernetes object serialises")
}

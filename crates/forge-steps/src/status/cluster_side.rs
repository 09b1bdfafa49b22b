//! The cluster's side of each target: the environment's Flux Kustomization,
//! the service's workload, and what its pods run. One list call per kind
//! per namespace per cluster, all at once, each bounded by a timeout; a
//! cluster that does not answer makes its targets `Unreachable`, never a guess.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use forge_adapters::kube::{connect, listing};
use forge_core::deploy_config::types::WorkloadKind;
use forge_core::kube::flux_progress::FluxKind;
use forge_core::kube::pod_failure::{condition, str_at, PodRules};
use forge_core::kube::rollout_verdict::verdict;
use forge_core::status::running_images::{replicas, running_images, template_images};
use forge_core::status::{ClusterView, FluxView, WorkloadView};

use super::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kustomizations,
    Workloads(WorkloadKind),
    Pods,
}

impl Kind {
    /// The key of its list (WorkloadKind has no order of its own).
    fn label(self) -> &'static str {
        match self {
            Kind::Kustomizations => "kustomizations",
            Kind::Workloads(WorkloadKind::Deployment) => "deployments",
            Kind::Workloads(WorkloadKind::StatefulSet) => "statefulsets",
            Kind::Workloads(WorkloadKind::DaemonSet) => "daemonsets",
            Kind::Pods => "pods",
        }
    }
}

type Lists = BTreeMap<(String, &'static str), Result<Vec<Value>, String>>;

pub(super) async fn read(
    targets: &[Target],
    timeout: Duration,
) -> BTreeMap<(String, String), ClusterView> {
    let mut out = BTreeMap::new();
    let mut by_context: BTreeMap<Option<String>, Vec<&Target>> = BTreeMap::new();
    for t in targets {
        if t.cluster {
            by_context
                .entry(t.kube_context.clone())
                .or_default()
                .push(t);
        } else {
            out.insert(t.key(), ClusterView::Disabled);
        }
    }
    let clusters = by_context
        .into_iter()
        .map(|(context, targets)| read_cluster(context, targets, timeout));
    for views in join_all(clusters).await {
        out.extend(views);
    }
    out
}

async fn read_cluster(
    context: Option<String>,
    targets: Vec<&Target>,
    timeout: Duration,
) -> Vec<((String, String), ClusterView)> {
    let unreachable = |reason: String| {
        targets
            .iter()
            .map(|t| {
                (
                    t.key(),
                    ClusterView::Unreachable {
                        reason: reason.clone(),
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let client = match tokio::time::timeout(timeout, connect(context.as_deref())).await {
        Err(_) => return unreachable(no_answer(timeout)),
        Ok(Err(e)) => return unreachable(e.to_string()),
        Ok(Ok(c)) => c,
    };
    let mut wanted: BTreeMap<(String, &'static str), Kind> = BTreeMap::new();
    for t in &targets {
        for (ns, kind) in [
            (&t.flux_kustomization.namespace, Kind::Kustomizations),
            (&t.workload.namespace, Kind::Workloads(t.workload.kind)),
            (&t.workload.namespace, Kind::Pods),
        ] {
            wanted.insert((ns.clone(), kind.label()), kind);
        }
    }
    let calls = wanted.into_iter().map(|((ns, label), kind)| {
        let client = client.clone();
        async move {
            let call = async {
                match kind {
                    Kind::Kustomizations => {
                        listing::flux_objects(&client, FluxKind::Kustomization, &ns).await
                    }
                    Kind::Workloads(k) => listing::workloads(&client, k, &ns).await,
                    Kind::Pods => listing::pods(&client, &ns).await,
                }
            };
            let result = match tokio::time::timeout(timeout, call).await {
                Err(_) => Err(no_answer(timeout)),
                Ok(Err(e)) => Err(describe(&e)),
                Ok(Ok(items)) => Ok(items),
            };
            ((ns, label), result)
        }
    });
    let lists: Lists = join_all(calls).await.into_iter().collect();
    targets.iter().map(|t| (t.key(), view(t, &lists))).collect()
}

fn view(t: &Target, lists: &Lists) -> ClusterView {
    let get = |ns: &str, kind: Kind| -> Result<&[Value], String> {
        match lists.get(&(ns.to_owned(), kind.label())) {
            Some(Ok(items)) => Ok(items),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not listed".to_owned()),
        }
    };
    let w = &t.workload;
    let (ks, workloads, pods) = match (
        get(&t.flux_kustomization.namespace, Kind::Kustomizations),
        get(&w.namespace, Kind::Workloads(w.kind)),
        get(&w.namespace, Kind::Pods),
    ) {
        (Ok(k), Ok(wl), Ok(p)) => (k, wl, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return ClusterView::Unreachable { reason: e }
        }
    };
    let named = |items: &[Value], name: &str| {
        items
            .iter()
            .find(|o| o["metadata"]["name"].as_str() == Some(name))
            .cloned()
    };
    let kustomization = named(ks, &t.flux_kustomization.name).map(|k| flux_view(&k, t));
    let workload = named(workloads, &w.name).map(|obj| {
        let (ready, desired) = replicas(&obj);
        WorkloadView {
            name: format!("{:?} {}/{}", w.kind, w.namespace, w.name),
            template_images: template_images(&obj),
            running: running_images(&obj, pods, &t.repository),
            ready_replicas: ready,
            desired_replicas: desired,
            verdict: verdict(&obj, &PodRules::default()),
        }
    });
    ClusterView::Observed {
        kustomization,
        workload,
    }
}

fn flux_view(k: &Value, t: &Target) -> FluxView {
    let status = &k["status"];
    let ready = condition(status, "Ready");
    let text = |v: Option<&Value>, key: &str| {
        v.map(|c| str_at(c, key))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    FluxView {
        name: t.flux_kustomization.to_string(),
        last_applied_revision: status["lastAppliedRevision"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        ready: text(ready, "status"),
        reason: text(ready, "reason"),
        message: text(ready, "message"),
        suspended: k["spec"]["suspend"].as_bool().unwrap_or(false),
    }
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within {} s", timeout.as_secs_f64())
}

/// kube's error and its causes on one line (a refused connection says so
/// only in its source).
fn describe(e: &kube::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

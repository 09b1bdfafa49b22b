//! One status report: the targets deploy.yaml names (filtered), each side
//! read once for all of them and at the same time (ledger, git, cluster),
//! then classified.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use forge_core::deploy_config::resolved::DeployConfig;
use forge_core::status::{classify, LedgerView, StatusReport, TargetStatus};
use forge_ledger::Ledger;

use crate::deploy::DeployContext;
use crate::observer::NoObserver;

use super::target::Target;

/// What to report on.
#[derive(Debug, Clone)]
pub struct StatusRequest {
    pub config: DeployConfig,
    /// deploy.yaml itself (relative paths in it start at its directory).
    pub file: PathBuf,
    /// Only these environments / this service (all when `None`).
    pub environment: Option<String>,
    pub service: Option<String>,
    /// Only this product's services in its environments.
    pub product: Option<String>,
    /// Bounds each cluster call (connecting, each list).
    pub cluster_timeout: Duration,
    /// Bounds the GitOps fetch and read.
    pub git_timeout: Duration,
}

/// Gathers and classifies; an error only when deploy.yaml names nothing
/// to report on or the ledger cannot be read (git and the cluster failing
/// are part of the report).
pub async fn gather(request: &StatusRequest, ledger: &Ledger) -> anyhow::Result<StatusReport> {
    let started = Instant::now();
    let config = &request.config;
    if let Some(env) = &request.environment {
        config.environment(env)?;
    }
    if let Some(service) = &request.service {
        config.service(service)?;
    }
    let product = request
        .product
        .as_ref()
        .map(|p| config.product(p))
        .transpose()?;
    let mut targets = Vec::new();
    let mut remote = None;
    for t in &config.targets {
        let wanted = request.environment.as_ref().is_none_or(|e| *e == t.env)
            && request.service.as_ref().is_none_or(|s| *s == t.service)
            && product
                .is_none_or(|p| p.services.contains(&t.service) && p.environments.contains(&t.env));
        if !wanted {
            continue;
        }
        let ctx = DeployContext::new(
            config.clone(),
            &request.file,
            &t.service,
            &t.env,
            Arc::new(NoObserver),
        )?;
        if remote.is_none() {
            // One GitOps repository per deploy.yaml.
            remote = ctx.git_remote().context("gitops:")?;
        }
        let pin_name = ctx.new_name().unwrap_or_else(|| ctx.image_name());
        targets.push(Target {
            service: t.service.clone(),
            environment: t.env.clone(),
            kustomization: t.kustomization.clone(),
            image_name: ctx.image_name(),
            repository: pin_name,
            cluster: t.cluster,
            kube_context: t.kube_context.clone(),
            flux_kustomization: t.flux_kustomization.clone(),
            workload: t.workload.clone(),
        });
    }
    let (ledger_views, git_views, cluster_views) = tokio::join!(
        super::ledger_side::read(ledger),
        super::git_side::read(remote, &targets, request.git_timeout),
        super::cluster_side::read(&targets, request.cluster_timeout),
    );
    let mut ledger_views = ledger_views.context("reading the ledger")?;
    let (mut git_views, mut cluster_views) = (git_views, cluster_views);
    let statuses = targets
        .iter()
        .map(|t| {
            let key = t.key();
            let ledger = ledger_views
                .remove(&key)
                .unwrap_or_else(LedgerView::default);
            let git = git_views.remove(&key).expect("git read every target");
            let cluster = cluster_views
                .remove(&key)
                .expect("every target has a cluster side");
            let (drift, explanation) = classify(&t.environment, &ledger, &git, &cluster);
            TargetStatus {
                service: t.service.clone(),
                environment: t.environment.clone(),
                drift,
                explanation,
                ledger,
                git,
                cluster,
            }
        })
        .collect();
    // NixOS hosts: their pins against their agents' reports (a service
    // filter leaves them out; a product keeps its own).
    let hosts = match (&request.service, product) {
        (Some(_), _) => vec![],
        (None, product) => super::hosts_side::read(
            config,
            &request.file,
            request.environment.as_deref(),
            ledger,
            request.git_timeout,
        )
        .await?
        .into_iter()
        .filter(|h| product.is_none_or(|p| p.hosts.contains(&h.host)))
        .collect(),
    };
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(StatusReport::new(crate::release::recorder::now_ms(), took, statuses).with_hosts(hosts))
}

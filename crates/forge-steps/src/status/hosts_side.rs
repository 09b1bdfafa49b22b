//! NixOS hosts for `forge status`: each host's pin at the GitOps tip (one
//! fetch for all) and its agent's latest outcome in the ledger's audit log.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use forge_core::deploy_config::DeployConfig;
use forge_core::host::pin::{pin_path, HostPin};
use forge_core::nix::store_path::DEFAULT_STORE_DIR;
use forge_core::status::hosts::{classify_host, AgentView, HostPinView, HostStatus};
use forge_ledger::Ledger;

use crate::deploy::context::ConfigRoot;

/// The hosts of `config` (in `environment` when given) with their drift.
pub(super) async fn read(
    config: &DeployConfig,
    file: &Path,
    environment: Option<&str>,
    ledger: &Ledger,
    timeout: Duration,
) -> anyhow::Result<Vec<HostStatus>> {
    let hosts: Vec<(&str, &str)> = config
        .hosts
        .values()
        .filter(|h| environment.is_none_or(|e| e == h.environment))
        .map(|h| (h.name.as_str(), h.environment.as_str()))
        .collect();
    if hosts.is_empty() {
        return Ok(vec![]);
    }
    let base = crate::config_file::ConfigSource::of(file)
        .base_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf());
    let base = base.canonicalize().unwrap_or(base);
    let remote = ConfigRoot {
        config,
        base: &base,
    }
    .git_remote()?;
    let paths: Vec<String> = hosts.iter().map(|(h, e)| pin_path(e, h)).collect();
    let pins: Result<BTreeMap<String, Result<HostPinView, String>>, String> = match remote {
        None => Err("deploy.yaml has no gitops:".to_owned()),
        Some(remote) => {
            let wanted = paths.clone();
            let task = tokio::task::spawn_blocking(move || remote.tip_snapshot(&wanted, 2_000));
            match tokio::time::timeout(timeout, task).await {
                Err(_) => Err(format!(
                    "no answer from the GitOps remote within {} s",
                    timeout.as_secs()
                )),
                Ok(Err(e)) => Err(format!("reading the clone: {e}")),
                Ok(Ok(Err(e))) => Err(e.to_string()),
                Ok(Ok(Ok(snapshot))) => Ok(snapshot
                    .files
                    .into_iter()
                    .map(|(path, file)| {
                        let view = file.and_then(|f| {
                            HostPin::parse(&f.text, &path, DEFAULT_STORE_DIR)
                                .map(|p| HostPinView {
                                    store_path: p.store_path,
                                    pinned_by: p.pinned_by,
                                    pinned_at: p.pinned_at,
                                    commit: Some(f.last_change.id.clone()),
                                })
                                .map_err(|e| e.to_string())
                        });
                        (path, view)
                    })
                    .collect()),
            }
        }
    };
    // The newest outcome per host wins (the log is in order).
    let mut agents: BTreeMap<String, AgentView> = BTreeMap::new();
    for (event, _) in ledger.audit().await? {
        let Some(outcome) = event.action.strip_prefix("host.") else {
            continue;
        };
        let Some(system) = event.after["system"].as_str() else {
            continue;
        };
        agents.insert(
            event.subject.clone(),
            AgentView {
                outcome: outcome.to_owned(),
                system: system.to_owned(),
                at: event.at,
            },
        );
    }
    Ok(hosts
        .iter()
        .map(|(host, env)| {
            let path = pin_path(env, host);
            let pin = match &pins {
                Err(e) => Err(e.clone()),
                // A missing file is no pin; another failure is a reason.
                Ok(files) => match files.get(&path) {
                    None => Ok(None),
                    Some(Ok(p)) => Ok(Some(p.clone())),
                    Some(Err(e)) if e.contains("does not exist on branch") => Ok(None),
                    Some(Err(e)) => Err(e.clone()),
                },
            };
            let agent = agents.get(&format!("host/{env}/{host}")).cloned();
            let (drift, explanation) = classify_host(
                pin.as_ref().map(Option::as_ref).map_err(String::as_str),
                agent.as_ref(),
            );
            HostStatus {
                host: host.to_string(),
                environment: env.to_string(),
                drift,
                explanation,
                pin: pin.ok().flatten(),
                agent,
            }
        })
        .collect())
}

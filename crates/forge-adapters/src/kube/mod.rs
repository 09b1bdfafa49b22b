//! The Kubernetes API through kube-rs. One [`kube::Client`] per command, built
//! from the kubeconfig (`KUBECONFIG` or `~/.kube/config`, or the in-cluster
//! service account) and an optional context; the submodules are the calls
//! Forge makes with it.

use kube::config::{KubeConfigOptions, Kubeconfig};

pub mod flux;
pub mod job;
pub mod listing;
pub mod workload;

/// The cluster could not be reached or configured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no Kubernetes configuration: {0} (set KUBECONFIG or environments.<env>.kube.context)"
    )]
    NoConfig(String),
    #[error("kubeconfig context `{context}`: {message}")]
    Context { context: String, message: String },
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
}

/// A client for `context` (the kubeconfig's current context when `None`).
pub async fn connect(context: Option<&str>) -> Result<kube::Client, ConnectError> {
    let config = match context {
        None => kube::Config::infer()
            .await
            .map_err(|e| ConnectError::NoConfig(e.to_string()))?,
        Some(context) => {
            let kubeconfig =
                Kubeconfig::read().map_err(|e| ConnectError::NoConfig(e.to_string()))?;
            if !kubeconfig.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kubeconfig
                    .contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                return Err(ConnectError::Context {
                    context: context.to_owned(),
                    message: format!("not in the kubeconfig (known: {})", known.join(", ")),
                });
            }
            let options = KubeConfigOptions {
                context: Some(context.to_owned()),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| ConnectError::Context {
                    context: context.to_owned(),
                    message: e.to_string(),
                })?
        }
    };
    kube::Client::try_from(config).map_err(|e| ConnectError::Client(e.to_string()))
}

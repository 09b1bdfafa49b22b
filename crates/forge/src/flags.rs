//! Flag groups several commands share, and what they resolve to.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_core::deploy_config::{DeployConfig, DEFAULT_FILE};
use forge_core::kube::pod_failure::DEFAULT_CRASHLOOP_RESTARTS;
use forge_io::http::{Network, Timeouts};
use forge_io::retry::RetryPolicy;
use forge_steps::deploy::{ClusterOptions, DeployContext};
use forge_steps::service_image::Publishing;

use crate::output::ProgressView;

/// Which `deploy.yaml` to read, or which flake's `forgeConfigurations`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The deployment configuration: a deploy.yaml file, or flake:REF#NAME for
    /// the flake's forgeConfigurations.NAME (e.g. flake:.#default).
    #[arg(long, value_name = "FILE|flake:REF#NAME", env = "FORGE_CONFIG", default_value = DEFAULT_FILE)]
    pub config: PathBuf,
}

impl ConfigArg {
    /// Reads and resolves the configuration; images without `arch` are for this machine's architecture.
    pub fn load(&self) -> anyhow::Result<DeployConfig> {
        Ok(forge_steps::config_file::load(&self.config)?)
    }
}

/// How a service's image is built and pushed (`forge push`, `forge deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct PublishFlags {
    /// Talk plain HTTP to the registry (loopback registries always use HTTP).
    #[arg(long)]
    pub insecure_http: bool,
    /// Blob transfers at once.
    #[arg(short, long, default_value_t = 8)]
    pub jobs: usize,
    /// Where compressed layers are cached between builds [default: ~/.cache/forge].
    #[arg(long, value_name = "DIR", env = "FORGE_CACHE_DIR")]
    pub layer_cache: Option<PathBuf>,
    #[command(flatten)]
    pub network: NetworkFlags,
}

impl PublishFlags {
    pub fn publishing(&self) -> Publishing {
        Publishing {
            insecure_http: self.insecure_http,
            jobs: self.jobs,
            layer_cache: self.layer_cache.clone(),
            network: self.network.network(),
        }
    }
}

/// How long to wait on caches and registries, and how often to try: every
/// command that talks to them takes these.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkFlags {
    /// Attempts per request on transient failures (connection errors, no
    /// answer, 5xx, 429); TLS, authentication and other 4xx errors are final.
    #[arg(long, value_name = "N", default_value_t = 6, env = "FORGE_ATTEMPTS")]
    pub attempts: usize,
    /// How long a connection may take to open.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = ConfigDuration::parse, env = "FORGE_CONNECT_TIMEOUT")]
    pub connect_timeout: ConfigDuration,
    /// A request fails when no bytes move for this long (none sent, none
    /// answered); a long transfer that keeps moving never does.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = ConfigDuration::parse, env = "FORGE_IDLE_TIMEOUT")]
    pub idle_timeout: ConfigDuration,
}

impl NetworkFlags {
    pub fn network(&self) -> Network {
        Network {
            timeouts: Timeouts {
                connect: Duration::from_secs(self.connect_timeout.seconds()),
                idle: Duration::from_secs(self.idle_timeout.seconds()),
            },
            retry: RetryPolicy {
                attempts: self.attempts.max(1),
                ..RetryPolicy::default()
            },
        }
    }
}

/// The cluster half's flags (`forge deploy`, `forge rollback`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterFlags {
    /// Restarts after which a crash-looping container fails the rollout.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CRASHLOOP_RESTARTS)]
    pub crashloop_restarts: u64,
    /// Log lines shown per failing container.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub log_lines: usize,
    /// How long Flux may take [default: the environment's timeouts.reconcile].
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse)]
    pub reconcile_timeout: Option<ConfigDuration>,
    /// How long the rollout may take [default: the environment's timeouts.rollout].
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse)]
    pub rollout_timeout: Option<ConfigDuration>,
}

impl ClusterFlags {
    pub fn options(&self) -> ClusterOptions {
        ClusterOptions {
            crashloop_restarts: self.crashloop_restarts,
            log_lines: self.log_lines,
            reconcile_timeout: self.reconcile_timeout,
            rollout_timeout: self.rollout_timeout,
        }
    }
}

/// The service in the environment, with progress drawn on the terminal.
pub fn deploy_context(
    config: &ConfigArg,
    service: &str,
    env: &str,
    cluster: &ClusterOptions,
) -> anyhow::Result<DeployContext> {
    let observer = Arc::new(ProgressView::new());
    DeployContext::load(&config.config, service, env, cluster, observer)
}

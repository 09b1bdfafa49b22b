//! The resolved configuration: every default filled in, one [`Target`] per
//! service and environment; what commands read.

use std::collections::BTreeMap;

use serde::Serialize;

use super::parse::{closest, error_at, ConfigError};
use super::types::{Compression, Duration, MigrationPhase, RollbackPolicy, WorkloadKind};
use crate::oci::image_config::Arch;

/// Where a secret comes from; the value itself is read only when needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    Env(String),
    File(String),
}

/// The resolved `deploy.yaml`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployConfig {
    /// The file it was read from (as given).
    pub file: String,
    pub flake: String,
    pub cache: Option<Cache>,
    pub registry: Option<String>,
    pub gitops: Option<Gitops>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerConfig>,
    pub environments: BTreeMap<String, Environment>,
    pub services: BTreeMap<String, Service>,
    /// Every service in every environment.
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub products: BTreeMap<String, Product>,
    /// NixOS hosts, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, Host>,
    #[serde(skip)]
    pub(super) text: String,
}

/// A product: services released together, promoted through environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub name: String,
    pub services: Vec<String>,
    /// NixOS hosts, deployed (pinned for their agents) in their environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// In promotion order.
    pub environments: Vec<String>,
    /// Gate before each environment after the first (defaults: none).
    pub gates: BTreeMap<String, Gate>,
    /// Named `checks.<system>.*` run before pushing; empty: `nix flake check`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Run as a Job like a migration (in the first service's namespace), from its own image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_test: Option<IntegrationTest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrationTest {
    pub image: String,
    /// As a migration: name `integration-test`, the command, its timeout, env_from.
    pub job: Migration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// Seconds the release must have been healthy upstream.
    pub soak: u64,
    /// Approvals from distinct identities.
    pub approvals: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Checks (by name) run again in the environment before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<String>,
}

/// A gate's time window, checked when the gate would open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// `mon` … `sun`; empty: every day.
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive.
    pub to: String,
    pub zone: String,
}

impl Product {
    /// The gate before `env` (an empty one when none is configured).
    pub fn gate(&self, env: &str) -> Gate {
        self.gates.get(env).cloned().unwrap_or_default()
    }

    /// The environment before `env` in promotion order.
    pub fn upstream(&self, env: &str) -> Option<&str> {
        let i = self.environments.iter().position(|e| e == env)?;
        i.checked_sub(1).map(|u| self.environments[u].as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cache {
    pub url: String,
    pub signing_key_file: Option<String>,
    pub token: Option<SecretRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gitops {
    pub repo: String,
    pub branch: String,
    pub auth: GitAuth,
    pub author_name: String,
    pub author_email: String,
    /// Where to keep the clone (default: under Forge's cache directory).
    pub clone_dir: Option<String>,
    /// SSH key that signs the commits, if any.
    pub signing_key_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GitAuth {
    /// The SSH agent for SSH URLs; nothing for HTTPS.
    Default,
    Token(SecretRef),
    SshKeyFile(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    /// Whether Forge can reach a cluster (Flux and rollout steps) here.
    pub cluster: bool,
    pub kube_context: Option<String>,
    pub namespace: String,
    pub reconcile_timeout: Duration,
    pub rollout_timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// Installable per architecture, e.g. `.#packages.x86_64-linux.app`.
    pub installables: BTreeMap<String, String>,
    pub repository: String,
    /// The `images:` entry a deploy pins: the image as the manifests spell it.
    pub image_name: String,
    /// Tag templates for each architecture's image.
    pub tags: Vec<String>,
    pub image: Image,
    pub rollback: RollbackPolicy,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
}

/// A migration a release runs for a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    pub name: String,
    pub command: Vec<String>,
    pub phase: MigrationPhase,
    pub timeout: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_from_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_from_config_map: Option<String>,
}

impl Service {
    /// The migrations of `phase`.
    pub fn migrations_of(&self, phase: MigrationPhase) -> impl Iterator<Item = &Migration> {
        self.migrations.iter().filter(move |m| m.phase == phase)
    }
}

/// Where release runs are recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerConfig {
    /// An SQLite file, relative to deploy.yaml when not absolute.
    Path(String),
    /// The environment variable holding a `postgres://` URL.
    UrlEnv(String),
}

/// Image settings, as `forge image build` takes them.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub expose: Vec<String>,
    pub max_layers: usize,
    pub compression: Compression,
    pub arch: Vec<Arch>,
}

/// A Kubernetes object reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

/// One service in one environment: everything a deploy touches.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub service: String,
    pub env: String,
    pub repository: String,
    /// Path in the GitOps repository.
    pub kustomization: String,
    pub flux_source: ObjectRef,
    pub flux_kustomization: ObjectRef,
    pub workload: Workload,
    pub kube_context: Option<String>,
    /// Whether Forge can reach the cluster (else Flux and rollout are skipped).
    pub cluster: bool,
    pub reconcile_timeout: Duration,
    pub rollout_timeout: Duration,
    /// The service's checks, with `{service}` and `{env}` expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<Check>,
}

/// A verification check as a release runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub probe: Probe,
    pub interval: Duration,
    /// Passing attempts needed.
    pub count: u32,
    /// Failed attempts tolerated.
    pub failure_limit: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    Http {
        url: String,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        body_contains: Option<String>,
    },
    Command {
        argv: Vec<String>,
    },
}

impl DeployConfig {
    pub fn service(&self, name: &str) -> Result<&Service, ConfigError> {
        self.services.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
            self.error(
                &["services"],
                format!(
                    "no service `{name}` in services: (known: {})",
                    known.join(", ")
                ),
                closest(name, known.iter().copied()),
            )
        })
    }

    pub fn environment(&self, name: &str) -> Result<&Environment, ConfigError> {
        self.environments.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
            let listed = if known.is_empty() {
                "none are defined".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            };
            self.error(
                &["environments"],
                format!("no environment `{name}` in environments: ({listed})"),
                closest(name, known.iter().copied()),
            )
        })
    }

    pub fn product(&self, name: &str) -> Result<&Product, ConfigError> {
        self.products.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.products.keys().map(String::as_str).collect();
            let listed = if known.is_empty() {
                "none are defined".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            };
            self.error(
                &["products"],
                format!("no product `{name}` in products: ({listed})"),
                closest(name, known.iter().copied()),
            )
        })
    }

    /// `service` in `env`.
    pub fn target(&self, service: &str, env: &str) -> Result<&Target, ConfigError> {
        self.service(service)?;
        self.environment(env)?;
        Ok(self
            .targets
            .iter()
            .find(|t| t.service == service && t.env == env)
            .expect("every service has a target in every environment"))
    }

    fn error(&self, path: &[&str], message: String, suggestion: Option<String>) -> ConfigError {
        error_at(&self.text, &self.file, path, message, suggestion)
    }
}

/// A host, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub environment: String,
    /// `FLAKE#ATTR` of the system's toplevel.
    pub installable: String,
    pub confirm_timeout: Duration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<Check>,
}

//! The status report: for every service × environment what the ledger, git
//! and the cluster say, and the drift between them. One model for
//! `forge status --json` and `/api/v1/status` (schema `forge.status/v1`);
//! fields are only ever added. Times are unix milliseconds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::gitops::image_pin::ImagePin;
use crate::kube::rollout_verdict::Verdict;
use crate::release::RunState;

use super::class::Drift;

pub const SCHEMA: &str = "forge.status/v1";

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema: &'static str,
    /// When the report was gathered.
    pub generated_at: i64,
    /// How long gathering took.
    pub took_ms: u64,
    /// Entries per drift class (every class present, zero included).
    pub summary: BTreeMap<Drift, usize>,
    pub targets: Vec<TargetStatus>,
    /// NixOS hosts (counted in `summary` too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<super::hosts::HostStatus>,
}

impl StatusReport {
    pub fn new(generated_at: i64, took_ms: u64, targets: Vec<TargetStatus>) -> Self {
        let mut summary: BTreeMap<Drift, usize> = Drift::ALL.iter().map(|d| (*d, 0)).collect();
        for t in &targets {
            *summary.entry(t.drift).or_default() += 1;
        }
        Self {
            schema: SCHEMA,
            generated_at,
            took_ms,
            summary,
            targets,
            hosts: Vec::new(),
        }
    }

    /// The report with `hosts` added (and counted).
    pub fn with_hosts(mut self, hosts: Vec<super::hosts::HostStatus>) -> Self {
        for h in &hosts {
            *self.summary.entry(h.drift).or_default() += 1;
        }
        self.hosts = hosts;
        self
    }

    /// The worst class in the report (`in-sync` when it is empty).
    pub fn worst(&self) -> Drift {
        self.targets
            .iter()
            .map(|t| t.drift)
            .chain(self.hosts.iter().map(|h| h.drift))
            .max_by_key(|d| d.severity())
            .unwrap_or(Drift::InSync)
    }
}

/// One service in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub service: String,
    pub environment: String,
    pub drift: Drift,
    /// One line saying why, for people.
    pub explanation: String,
    pub ledger: LedgerView,
    pub git: GitView,
    pub cluster: ClusterView,
}

/// The ledger's record of the service in the environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerView {
    /// The newest run that included the service here, whatever its outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunView>,
    /// What the newest succeeded run shipped: what the ledger says runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<DeployedView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: String,
    pub state: RunState,
    pub actor: String,
    pub started_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The service's step that failed (its action) and its error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployedView {
    pub run: String,
    /// `sha256:…` the run pinned.
    pub digest: String,
    /// `repo:tag@digest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The GitOps commit the run's pin step landed (none: already pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub actor: String,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// The GitOps branch tip.
// One per target, a few hundred per report: boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GitView {
    /// The repository or the file could not be read.
    Unreadable { reason: String },
    Read {
        /// The kustomization file in the repository.
        file: String,
        tip: CommitView,
        /// The `images:` entry for the service (none: no entry).
        #[serde(skip_serializing_if = "Option::is_none")]
        pin: Option<ImagePin>,
        /// `name[:tag][@digest]` of the pin.
        #[serde(skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The newest commit that changed the file.
        #[serde(skip_serializing_if = "Option::is_none")]
        pin_commit: Option<CommitView>,
        /// First-parent commits from the tip down to `pin_commit`: a Flux
        /// revision among them has applied the pin.
        #[serde(skip)]
        since_pin: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitView {
    pub id: String,
    pub author: String,
    pub at: i64,
    pub subject: String,
}

/// What the cluster says.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClusterView {
    /// The environment has no cluster Forge reaches (`cluster: false`).
    Disabled,
    /// Asking failed (unreachable, refused, timed out): nothing is known.
    Unreachable { reason: String },
    Observed {
        /// The environment's Flux Kustomization (none: it does not exist).
        #[serde(skip_serializing_if = "Option::is_none")]
        kustomization: Option<FluxView>,
        /// The service's workload (none: it does not exist).
        #[serde(skip_serializing_if = "Option::is_none")]
        workload: Option<WorkloadView>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FluxView {
    /// `namespace/name`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The Ready condition's status: `True`, `False`, `Unknown` (none: no condition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub suspended: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadView {
    /// `Deployment ns/name`.
    pub name: String,
    /// The pod template's images.
    pub template_images: Vec<String>,
    /// What the pods run, by image.
    pub running: Vec<RunningImage>,
    pub ready_replicas: i64,
    pub desired_replicas: i64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningImage {
    pub image: String,
    /// From the pods' `imageID` (or the image, when it names a digest);
    /// none when neither says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub pods: usize,
}

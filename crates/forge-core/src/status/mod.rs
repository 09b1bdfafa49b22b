//! What is deployed where: the three records of a service in an environment
//! (the ledger's last run, the GitOps pin at the branch tip, what the cluster
//! runs) side by side, and the one rule that names their drift.
//!
//! - [`model`]: the status report (`forge status --json`, `/api/v1/status`).
//! - [`drift`]: [`drift::classify`]: the drift class and its one-line explanation.
//! - [`hosts`]: NixOS hosts: the pin against what the agent reported.
//! - [`running_images`]: which digests a workload's pods run (pure, over JSON).

pub mod class;
pub mod drift;
pub mod hosts;
pub mod model;
pub mod running_images;

#[cfg(test)]
mod drift_tests;

pub use drift::{classify, Drift};
pub use model::{
    ClusterView, CommitView, DeployedView, FluxView, GitView, LedgerView, RunView, RunningImage,
    StatusReport, TargetStatus, WorkloadView,
};

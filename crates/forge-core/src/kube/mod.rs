//! Kubernetes and Flux rules: when a rollout or a reconcile is done or failed.

pub mod flux_progress;
pub mod migration_job;
pub mod pod_failure;
pub mod rollout_progress;
pub mod rollout_verdict;

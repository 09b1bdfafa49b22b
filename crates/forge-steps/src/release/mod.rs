//! Release runs: a [`ReleasePlan`](forge_core::release::ReleasePlan) carried
//! out step by step with every intent and outcome in the ledger, so a run
//! survives a crash and `resume` does nothing twice.
//!
//! - [`runner`]: runs a plan (publish for every service, then change the
//!   environment in dependency order, in parallel where the graph allows)
//!   and resumes one; `execute` is what each kind of step does,
//!   `product_steps` the gates, checks and integration test of products.
//! - [`recorder`]: the run in the ledger: leases with heartbeats, step
//!   transitions, the release, the audit trail.
//! - [`approval`]: approvals and rejections of a release for an environment.
//! - [`migrate`]: migrations as Kubernetes Jobs (or local commands).
//! - [`one_service`]: `forge deploy` / `forge rollback` recorded as one-step runs.
//! - [`promotion`]: whether a recorded release may enter an environment.
//! - [`shape`]: what the planner needs of each service, from deploy.yaml.
//! - [`verify`]: verification checks (HTTP, commands) with their analysis.
//! - [`crash_point`]: `FORGE_CRASH_AT` for tests (debug builds only).

pub mod approval;
pub mod crash_point;
mod execute;
pub mod migrate;
pub mod one_service;
mod product_steps;
pub mod promotion;
pub mod recorder;
pub mod runner;
pub mod shape;
pub mod spec;
pub mod verify;

pub use one_service::OneServiceRun;
pub use recorder::RunRecorder;
pub use runner::{
    absolute, orchestrate, plan_of, resume, RunOptions, RunOutcome, RunSpec, StepSummary,
};

//! Releases, their plans, runs and steps: the vocabulary of the release
//! engine, named here once and used by the ledger, the runner and the CLI.
//!
//! - [`id`]: [`Release`], the immutable record of what ships, and its
//!   content-derived [`ReleaseId`].
//! - [`step`]: [`StepKey`] (`api/staging/migrate`) and the step state machine.
//! - [`plan`]: [`ReleasePlan`], the step graph over services × environments.
//! - [`run`]: a run's state, derived from its steps.
//! - [`lease`]: who may write a service × environment, and fencing.
//! - [`audit`]: the hash-chained audit log.
//! - [`gate`]: whether a release may enter an environment (soak, approvals).
//! - [`window`]: a gate's time window (days and hours in a time zone).
//! - [`analysis`]: when verification attempts have said enough.

pub mod analysis;
pub mod audit;
pub mod gate;
pub mod id;
pub mod lease;
pub mod plan;
pub mod run;
pub mod step;
pub mod window;

pub use id::{Release, ReleaseId, ServiceArtifacts};
pub use plan::{PlanError, PlannedStep, ReleasePlan, StepKind};
pub use run::{RunId, RunState};
pub use step::{StepKey, StepState, Transition};

//! Units of work that commands and release pipelines chain together.

pub mod build_image;
pub mod build_output;
pub mod flux_reconcile;
pub mod publish_image;
pub mod push_closure;
pub mod push_image;
pub mod query_closure;
pub mod update_gitops;
pub mod watch_rollout;

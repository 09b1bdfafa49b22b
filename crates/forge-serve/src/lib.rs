//! `forge serve`: a read-only HTTP server over the ledger and a status
//! snapshot refreshed in the background (requests never wait on a cluster).
//! axum lives in this crate only, so the CLI stays thin.
//!
//! - [`server`]: [`server::serve`]: binding (loopback, or a token), routes,
//!   the bearer-token check, the refresher.
//! - [`snapshot`]: the status report, ledger counts and recent runs the
//!   handlers read, replaced whole every interval.
//! - [`api`]: `/api/v1/…` JSON, pagination, JSON errors.
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`dashboard`]: `/` and `/runs/{id}`, server-rendered HTML.
//! - [`webhooks`]: optional notifications of release events (Slack-compatible JSON).

pub mod api;
pub mod dashboard;
pub mod metrics;
pub mod server;
pub mod snapshot;
pub mod webhooks;

pub use server::{serve, ServeError, ServeOptions, DEFAULT_LISTEN};

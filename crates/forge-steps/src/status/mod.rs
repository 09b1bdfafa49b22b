//! `forge status`: what is deployed where, gathered from the three records
//! at once and classified by forge-core's drift rule.
//!
//! - [`gather`]: the request and [`gather::gather`], which joins the sides.
//! - `ledger_side`: the newest run and newest succeeded run per target.
//! - `git_side`: the pins at the GitOps branch tip, one fetch per remote.
//! - `hosts_side`: NixOS hosts: pins at the tip, the agents' latest reports.
//! - `cluster_side`: Flux Kustomizations, workloads and pods, one list per
//!   kind per namespace, each bounded by a timeout.

mod cluster_side;
pub mod gather;
mod git_side;
mod hosts_side;
mod ledger_side;
mod target;

pub use gather::{gather, StatusRequest};

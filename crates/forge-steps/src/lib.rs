//! Forge's steps: typed units of work that commands and release runs chain,
//! each over the adapters, reporting progress through one [`observer::Observer`]
//! and drawing nothing themselves.
//!
//! - [`build_output`], [`query_closure`]: build flake outputs, read their closure.
//! - [`push_closure`]: `ClosurePusher`, a closure into a binary cache.
//! - [`build_image`], [`push_image`], [`publish_image`], [`service_image`]:
//!   OCI images from closures, pushed to registries or layouts.
//! - [`update_gitops`]: pin an image in the GitOps kustomization and push.
//! - [`flux_reconcile`], [`watch_rollout`]: Flux applies our commit; the
//!   workload rolls out (or fails fast).
//! - [`deploy`]: the deploy and rollback pipelines that chain all of the above.
//! - [`release`]: durable release runs over the ledger: run, resume.
//! - [`host`]: NixOS hosts: `forge deploy <host>` and the agent that switches them.
//! - [`status`]: what is deployed where (ledger, git, cluster) and its drift.
//! - [`config_file`]: deploy.yaml and signing keys, read and checked.

pub mod build_image;
pub mod build_output;
pub mod config_file;
pub mod deploy;
pub mod flux_reconcile;
pub mod host;
pub mod observer;
pub mod publish_image;
pub mod push_closure;
pub mod push_image;
pub mod query_closure;
pub mod release;
pub mod service_image;
pub mod status;
pub mod update_gitops;
pub mod watch_rollout;

//! Thin adapters, one per external system, each with its own error type.
//! Outside this crate (and forge-io, forge-attic), nothing in Forge spawns a
//! process or opens a socket.
//!
//! - [`nix`]: the one place that runs `nix` (eval, build, path-info).
//! - [`store`]: the local store read-only: its SQLite database, NAR serialisation.
//! - [`cache`]: binary caches behind one trait: `file://`, HTTP PUT, Attic.
//! - [`oci`]: OCI layouts, docker archives, the layer cache.
//! - [`registry`]: the OCI distribution API (auth, blobs, manifests).
//! - [`git`]: the GitOps clone: fetch, edit, commit, push with rebase-retry.
//! - [`git_rev`]: the commit of the checkout around a path.
//! - [`kube`]: Kubernetes and Flux objects (kube-rs).
//! - [`probe`]: what verification checks ask: an HTTP GET, a command.

pub mod cache;
pub mod git;
pub mod git_rev;
pub mod kube;
pub mod nix;
pub mod oci;
pub mod probe;
pub mod registry;
pub mod store;

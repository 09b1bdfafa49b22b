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
//! - [`system_profile`]: a NixOS host's system profile, switch-to-configuration, failed units.
//! - [`signed_substitution`]: a store path from a cache only with a trusted signature.
//! - [`probe`]: what verification checks ask: an HTTP GET, a command.

pub mod cache;
pub mod git;
pub mod git_rev;
pub mod kube;
pub mod nix;
pub mod oci;
pub mod probe;
pub mod registry;
pub mod signed_substitution;
pub mod store;
pub mod system_profile;

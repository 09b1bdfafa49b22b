//! Thin adapters, one per external system. Nothing outside this module spawns
//! a process or opens a socket.

pub mod attic;
pub mod cache;
pub mod git;
pub mod git_rev;
pub mod kube;
pub mod nix;
pub mod oci;
pub mod registry;
pub mod store;

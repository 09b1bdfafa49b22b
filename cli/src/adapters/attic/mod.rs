//! Attic: the one Attic client in the workspace (cache push and provisioning).

pub mod api;
pub mod client;

pub use client::AtticClient;

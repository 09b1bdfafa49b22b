//! `deploy.yaml`: what Forge deploys, where, and how (see `examples/deploy.yaml`).
//!
//! - [`types`]: the file as written (strict: unknown keys are errors).
//! - [`pattern`]: `{service}`/`{env}`/`{registry}`/`{system}` templates.
//! - [`parse`]: errors with file, line, column and "did you mean".
//! - [`resolve`]: the defaults, and patterns expanded.
//! - [`resolved`]: the result, one [`Target`] per service and environment.
//! - [`hosts`]: `hosts:`, NixOS machines that pull their deploys.
//! - [`summary`]: the text `forge config validate` prints.
//! - [`SCHEMA`]: the JSON Schema `forge config schema` prints.

mod checks;
pub mod hosts;
mod migrations;
pub mod parse;
pub mod pattern;
mod products;
pub mod resolve;
pub mod resolved;
pub mod summary;
pub mod types;

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;

pub use parse::ConfigError;
pub use resolved::{
    Check, DeployConfig, Environment, Gate, LedgerConfig, Probe, Product, Service, Target, Window,
};

/// JSON Schema (draft 2020-12) of `deploy.yaml`, for editors.
pub const SCHEMA: &str = include_str!("deploy.schema.json");

/// `deploy.yaml` unless `--config` or `FORGE_CONFIG` says otherwise.
pub const DEFAULT_FILE: &str = "deploy.yaml";

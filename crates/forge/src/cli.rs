//! The top-level command line: global flags and the subcommand enum.

use clap::{Parser, Subcommand};

use crate::commands;
use crate::output::LogFormat;

/// Forge takes a service from a flake output to a verified rollout.
///
/// Start with `forge build .#app` to build a flake output, then
/// `forge cache push --to file:///tmp/cache .#app` to put its closure in a binary cache.
#[derive(Debug, Parser)]
#[command(
    name = "forge",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: everything). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log line format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "FORGE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// Print the result as JSON on stdout (logs and progress stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Build(commands::build::BuildArgs),
    Health(commands::health::HealthArgs),
    /// Push closures to binary caches (file, HTTP, Attic); make signing keys.
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
    /// Build OCI images from closures and push them to registries.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Edit kustomizations (pin an image by tag and digest), keeping their style.
    #[command(subcommand)]
    Kustomize(commands::kustomize::KustomizeCommand),
    /// Check deploy.yaml (`validate`) or print its JSON Schema (`schema`).
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    Push(commands::push::PushArgs),
    Deploy(commands::deploy::DeployArgs),
    FluxReconcile(commands::flux::FluxReconcileArgs),
    Rollback(commands::rollback::RollbackArgs),
    Rollout(commands::rollout::RolloutArgs),
}

/// Flags every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    pub json: bool,
}

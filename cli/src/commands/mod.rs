//! One file per subcommand: its clap arguments and `run()`.

pub mod build;
pub mod cache;
pub mod health;
pub mod image;
pub mod kustomize;

use crate::cli::{Cli, Command, Global};

/// Runs the parsed command line; the error is what `main` reports.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = Global { json: cli.json };
    match cli.command {
        Command::Build(args) => build::run(args, global).await,
        Command::Cache(cmd) => cache::run(cmd, global).await,
        Command::Health(args) => health::run(args, global).await,
        Command::Image(cmd) => image::run(cmd, global).await,
        Command::Kustomize(cmd) => kustomize::run(cmd, global).await,
    }
}

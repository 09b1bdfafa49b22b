//! One file per subcommand: its clap arguments and `run()`.

pub mod build;
pub mod cache;
pub mod config;
pub mod deploy;
pub mod flux;
pub mod health;
pub mod image;
pub mod kustomize;
pub mod push;
pub mod rollback;
pub mod rollout;

use crate::cli::{Cli, Command, Global};

/// Runs the parsed command line. `Ok` carries the exit status (commands with
/// more than success and failure, like `health`, choose it); an error is what
/// `main` reports, with status 1.
pub async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let global = Global { json: cli.json };
    let done = |r: anyhow::Result<()>| r.map(|()| 0);
    match cli.command {
        Command::Build(args) => done(build::run(args, global).await),
        Command::Cache(cmd) => done(cache::run(cmd, global).await),
        Command::Config(cmd) => done(config::run(cmd, global).await),
        Command::Health(args) => health::run(args, global).await,
        Command::Image(cmd) => done(image::run(cmd, global).await),
        Command::Kustomize(cmd) => done(kustomize::run(cmd, global).await),
        Command::Push(args) => done(push::run(args, global).await),
        Command::Deploy(args) => deploy::run(args, global).await,
        Command::FluxReconcile(args) => flux::run(args, global).await,
        Command::Rollback(args) => rollback::run(args, global).await,
        Command::Rollout(args) => rollout::run(args, global).await,
    }
}

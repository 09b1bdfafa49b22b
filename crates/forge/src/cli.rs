//! The top-level command line: global flags and the subcommand enum.

use clap::{Parser, Subcommand};

use crate::commands::{self, *};
use crate::global::{Global, ProgressMode};
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

    /// Only errors on stderr: no progress, no info logs.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Progress on stderr: auto (a live view on a terminal, timestamped
    /// lines otherwise, workflow commands under GitHub Actions), tty, plain,
    /// json (one event per line), github, none.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "FORGE_PROGRESS"
    )]
    pub progress: ProgressMode,

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
    Agent(commands::agent::AgentArgs),
    FluxReconcile(commands::flux::FluxReconcileArgs),
    Rollback(commands::rollback::RollbackArgs),
    Rollout(commands::rollout::RolloutArgs),
    OrchestrateRelease(commands::release::OrchestrateArgs),
    RunMigrations(commands::release::RunMigrationsArgs),
    ProductRelease(commands::release::ProductReleaseArgs),
    /// Flake checks, build and push once, then the product's first
    /// environment with its verification; stops there. Exit status as
    /// product-release.
    Prerelease(commands::release::ProductReleaseArgs),
    /// Flake checks first, then the whole product release through every
    /// environment and its gates. Exit status as product-release.
    ComprehensiveRelease(commands::release::ProductReleaseArgs),
    Promote(commands::release::PromoteArgs),
    /// Release runs in the ledger: plan, list, show, resume, cancel, audit.
    #[command(subcommand)]
    Release(commands::release::ReleaseCommand),
    Status(commands::status::StatusArgs),
    Serve(commands::serve::ServeArgs),
    Completions(commands::completions::CompletionsArgs),
    Man(commands::completions::ManArgs),
}

impl Cli {
    /// The flags every command sees, resolved against the environment.
    pub fn global(&self) -> Global {
        Global::new(self.json, self.quiet, self.progress)
    }
}

/// Runs the parsed command line. `Ok` carries the exit status (commands with
/// more than success and failure, like `health`, choose it); an error is what
/// `main` reports, with the status `exit::classify` gives it.
pub async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let global = cli.global();
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
        Command::Agent(args) => agent::run(args, global).await,
        Command::FluxReconcile(args) => flux::run(args, global).await,
        Command::Rollback(args) => rollback::run(args, global).await,
        Command::Rollout(args) => rollout::run(args, global).await,
        Command::OrchestrateRelease(args) => release::orchestrate_release(args, global).await,
        Command::RunMigrations(args) => release::run_migrations(args, global).await,
        Command::ProductRelease(args) => release::product_release(args, global).await,
        Command::Prerelease(args) => release::prerelease(args, global).await,
        Command::ComprehensiveRelease(args) => release::comprehensive_release(args, global).await,
        Command::Promote(args) => release::promote(args, global).await,
        Command::Release(cmd) => release::run(cmd, global).await,
        Command::Status(args) => status::run(args, global).await,
        Command::Serve(args) => serve::run(args, global).await,
        Command::Completions(args) => done(completions::completions(args)),
        Command::Man(args) => done(completions::man(args)),
    }
}

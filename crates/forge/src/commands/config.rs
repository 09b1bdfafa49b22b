//! `forge config validate` and `forge config schema`: checking `deploy.yaml`.

use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::output::print_json;
use forge_core::deploy_config::{summary::summary, DeployConfig, DEFAULT_FILE, SCHEMA};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    Validate(ValidateArgs),
    Schema(SchemaArgs),
}

/// Which `deploy.yaml` to read.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The deployment configuration.
    #[arg(long, value_name = "FILE", env = "FORGE_CONFIG", default_value = DEFAULT_FILE)]
    pub config: PathBuf,
}

impl ConfigArg {
    /// Reads and resolves the file; images without `arch` are for this machine's architecture.
    pub fn load(&self) -> anyhow::Result<DeployConfig> {
        load(&self.config)
    }
}

pub fn load(file: &Path) -> anyhow::Result<DeployConfig> {
    Ok(forge_steps::config_file::load(file)?)
}

/// Check deploy.yaml and print what it resolves to.
///
/// Prints each service with its image repository and, per environment, the
/// kustomization path, the Flux objects to reconcile and the workload; with
/// --json, the whole resolved configuration. Errors name file:line:column.
///
/// Examples:
///   forge config validate
///   forge config validate --config deploy/prod.yaml --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Print the JSON Schema (draft 2020-12) of deploy.yaml, for editors.
///
/// Example:
///   forge config schema > deploy.schema.json
///   # then, first line of deploy.yaml:
///   # yaml-language-server: $schema=deploy.schema.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SchemaArgs {}

pub async fn run(cmd: ConfigCommand, global: Global) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Validate(args) => {
            let config = args.config.load()?;
            if global.json {
                print_json(&config);
            } else {
                print!("{}", summary(&config));
            }
        }
        ConfigCommand::Schema(SchemaArgs {}) => print!("{SCHEMA}"),
    }
    Ok(())
}

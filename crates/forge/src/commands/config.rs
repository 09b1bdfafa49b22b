//! `forge config validate` and `forge config schema`: checking `deploy.yaml`.

use crate::flags::ConfigArg;
use crate::global::Global;
use crate::output::print_document;
use forge_core::deploy_config::{summary::summary, SCHEMA};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    Validate(ValidateArgs),
    Schema(SchemaArgs),
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
                print_document("config", &config);
            } else {
                print!("{}", summary(&config));
            }
        }
        ConfigCommand::Schema(SchemaArgs {}) => print!("{SCHEMA}"),
    }
    Ok(())
}

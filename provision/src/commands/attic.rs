//! `forge-provision attic plan|apply`: reserved. It must share the Attic
//! client with `forge cache push`, which is not in the workspace yet.

use super::Outcome;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AtticArgs {
    #[command(subcommand)]
    pub action: AtticAction,
}

#[derive(Debug, Subcommand)]
pub enum AtticAction {
    /// Print the API calls that would make Attic match the file.
    Plan(AtticRunArgs),
    /// Make the calls.
    Apply(AtticRunArgs),
}

#[derive(Debug, Args)]
pub struct AtticRunArgs {
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("`forge-provision attic` is not implemented yet: it will use the workspace's shared Attic client (issue 6)")]
pub struct NotImplemented;

pub fn run(_args: AtticArgs) -> Result<Outcome, NotImplemented> {
    Err(NotImplemented)
}

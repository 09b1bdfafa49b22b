//! The top-level command line: one subcommand per system to provision.

use crate::commands::{attic::AtticArgs, postgres::PostgresArgs};
use clap::{Parser, Subcommand};

/// Make a live system match a YAML file: plan first, idempotent.
#[derive(Debug, Parser)]
#[command(name = "forge-provision", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Roles, databases, extensions, schemas, grants and CDC on PostgreSQL.
    Postgres(PostgresArgs),
    /// Attic caches (through its API) and tokens (minted here, written to files).
    Attic(AtticArgs),
}

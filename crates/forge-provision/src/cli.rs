//! The top-level command line: one subcommand per system to provision.

use crate::commands::{attic::AtticArgs, postgres::PostgresArgs};
use clap::{Parser, Subcommand};

/// Make a live system match a YAML file: plan first, idempotent.
///
/// Examples:
///   forge-provision postgres plan --config db.yaml
///   forge-provision postgres apply --config db.yaml --check   # exit 4: changes pending
///   ATTIC_TOKEN=... forge-provision attic apply --config attic.yaml
#[derive(Debug, Parser)]
#[command(name = "forge-provision", version, about, verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Roles, databases, extensions, schemas, grants and CDC on PostgreSQL.
    ///
    /// The server: the spec's `connection:`, else DATABASE_URL; what neither
    /// sets comes from the libpq variables PGHOST, PGPORT, PGUSER, PGDATABASE,
    /// PGSSLMODE and PGPASSWORD (and a PGSERVICE section), as for psql.
    ///
    /// Examples:
    ///   forge-provision postgres plan --config db.yaml
    ///   DATABASE_URL=postgres://admin@db.internal/postgres forge-provision postgres apply --config db.yaml
    ///   PGHOST=/run/postgresql PGUSER=postgres forge-provision postgres plan --config db.yaml --check --json
    #[command(verbatim_doc_comment)]
    Postgres(PostgresArgs),
    /// Attic caches (through its API) and tokens (minted here, written to files).
    ///
    /// Examples:
    ///   forge-provision attic plan --config attic.yaml
    ///   forge-provision attic apply --config attic.yaml --json
    ///   forge-provision attic plan --config attic.yaml --check   # exit 4: changes pending
    #[command(verbatim_doc_comment)]
    Attic(AtticArgs),
}

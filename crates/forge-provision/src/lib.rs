//! `forge-provision`: make a live PostgreSQL, and Attic caches and tokens,
//! match a YAML file, plan first, idempotent.
//!
//! Where to start:
//! - `domain/`: pure logic, no I/O: the spec (`spec.rs`, `spec_parse.rs`),
//!   what the catalogs say (`catalog.rs`), the planner (`postgres_plan.rs`).
//! - `adapters/`: the only code that talks to PostgreSQL and Attic, reads
//!   secrets and writes token files.
//! - `commands/`: one file per subcommand: its clap struct and `run()`.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;

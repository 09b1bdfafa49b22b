//! The `forge` command line: parsing, dispatch and rendering, nothing else.
//!
//! - `cli`: the top-level clap types (global flags, the subcommand enum)
//!   and `dispatch`, which hands each subcommand to its `run()`.
//! - `global`: the flags every command sees; `flags`: flag groups several
//!   commands share (deploy.yaml, publishing, the cluster half).
//! - `render`: results several commands print (deploy reports, image pushes).
//! - `commands/`: one file per subcommand: its clap struct and `run()`,
//!   which fills a step's or pipeline's input, calls it and renders its result.
//! - `output`: logging, JSON documents on stdout, error reports.
//! - `progress`: the one renderer of the steps' events (live view, plain
//!   lines, JSON events, GitHub Actions groups).
//! - `exit`: errors to exit statuses (the table is `forge_core::exit_status`).
//! - `github`: GitHub Actions annotations, step outputs and job summary.
//! - `choice`: clap parsers for the domain's named enums.
//!
//! The work itself lives in the library crates: `forge-core` (pure domain),
//! `forge-io`, `forge-attic`, `forge-adapters` and `forge-steps`.

pub mod choice;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod flags;
pub mod github;
pub mod global;
pub mod output;
pub mod progress;
pub mod render;

//! The `forge` command line: parsing, dispatch and rendering, nothing else.
//!
//! - `cli`: the top-level clap types (global flags, the subcommand enum)
//!   and `dispatch`, which hands each subcommand to its `run()`.
//! - `global`: the flags every command sees; `flags`: flag groups several
//!   commands share (deploy.yaml, publishing, the cluster half).
//! - `render`: results several commands print (deploy reports, image pushes).
//! - `commands/`: one file per subcommand: its clap struct and `run()`,
//!   which fills a step's or pipeline's input, calls it and renders its result.
//! - `output`: logging, progress rendering (the observer the steps report
//!   to), JSON on stdout, error reports.
//! - `choice`: clap parsers for the domain's named enums.
//!
//! The work itself lives in the library crates: `forge-core` (pure domain),
//! `forge-io`, `forge-attic`, `forge-adapters` and `forge-steps`.

pub mod choice;
pub mod cli;
pub mod commands;
pub mod flags;
pub mod global;
pub mod output;
pub mod render;

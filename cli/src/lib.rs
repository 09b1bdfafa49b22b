//! Forge: a Nix-native build-and-release orchestrator.
//!
//! Where to start:
//! - `domain/`: pure logic with no I/O (store paths, hashes, narinfo text, NAR encoding).
//! - `adapters/`: one module per external system (nix, binary caches, Attic).
//! - `steps/`: units that commands and pipelines chain (build an output, push a closure).
//! - `commands/`: one file per subcommand: its clap struct and `run()`.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;
pub mod output;
pub mod retry;
pub mod secret;
pub mod steps;

//! One file per subcommand: its clap arguments and `run()`.

pub mod agent;
pub mod build;
pub mod cache;
pub mod completions;
pub mod config;
pub mod deploy;
pub mod flux;
pub mod health;
pub mod image;
pub mod kustomize;
pub mod push;
pub mod release;
pub mod rollback;
pub mod rollout;
pub mod serve;
pub mod status;

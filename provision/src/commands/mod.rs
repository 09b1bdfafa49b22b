//! One file per subcommand: its clap arguments and `run()`.

pub mod attic;
pub mod postgres;

/// How a command ended, for the exit code (`main.rs` owns the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do, or changes were applied: exit 0.
    Done,
    /// `--check` found pending changes: exit 2.
    ChangesPending,
}

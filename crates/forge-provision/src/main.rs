//! `forge-provision`: parses the command line, dispatches, and owns the exit
//! codes, from the table both binaries share (`forge_core::exit_status`):
//! 0 done or converged, 1 the run failed (server, Attic, plan refused),
//! 2 usage or spec error (bad flags, unreadable or invalid spec, no
//! connection settings), 4 changes pending under `--check`.

use clap::{CommandFactory as _, FromArgMatches as _};
use forge_core::exit_status::{ExitStatus, TABLE};
use forge_provision::adapters::postgres::PostgresError;
use forge_provision::cli::{Cli, Command};
use forge_provision::commands::attic::AtticCommandError;
use forge_provision::commands::postgres::PostgresCommandError;
use forge_provision::commands::{attic, postgres, Outcome};
use std::process::ExitCode;

async fn dispatch(cli: Cli) -> Result<Outcome, (ExitStatus, String)> {
    match cli.command {
        Command::Postgres(args) => postgres::run(args).await.map_err(|e| {
            let status = match &e {
                PostgresCommandError::ReadSpec { .. }
                | PostgresCommandError::Spec(_)
                | PostgresCommandError::Postgres(
                    PostgresError::NoSettings | PostgresError::Settings(_),
                ) => ExitStatus::Usage,
                _ => ExitStatus::Failed,
            };
            (status, e.to_string())
        }),
        Command::Attic(args) => attic::run(args).await.map_err(|e| {
            let status = match &e {
                AtticCommandError::ReadSpec { .. } | AtticCommandError::Spec(_) => {
                    ExitStatus::Usage
                }
                AtticCommandError::Attic(_) => ExitStatus::Failed,
            };
            (status, e.to_string())
        }),
    }
}

/// The parser, with the exit-status table at the end of every `--help`.
fn command() -> clap::Command {
    fn with_table(cmd: clap::Command) -> clap::Command {
        cmd.after_long_help(TABLE).mut_subcommands(with_table)
    }
    with_table(Cli::command())
}

fn main() -> ExitCode {
    // clap's usage errors exit 2, as the table says.
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(ExitStatus::Failed.code());
        }
    };
    let status = match runtime.block_on(dispatch(cli)) {
        Ok(Outcome::Done) => ExitStatus::Success,
        Ok(Outcome::ChangesPending) => ExitStatus::ChangesPending,
        Err((status, message)) => {
            // Our errors carry their causes in their own message.
            eprintln!("error: {message}");
            status
        }
    };
    ExitCode::from(status.code())
}

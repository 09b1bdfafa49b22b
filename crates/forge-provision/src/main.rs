//! `forge-provision`: parses the command line, dispatches, and owns the exit
//! codes: 0 done or converged, 2 changes pending under `--check`, 1 error.

use clap::Parser;
use forge_provision::cli::{Cli, Command};
use forge_provision::commands::{attic, postgres, Outcome};
use std::process::ExitCode;

async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    Ok(match cli.command {
        Command::Postgres(args) => postgres::run(args).await?,
        Command::Attic(args) => attic::run(args).await?,
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 1, not clap's 2: 2 means "changes pending".
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ChangesPending) => ExitCode::from(2),
        Err(e) => {
            // Our errors carry their causes in their own message.
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

use clap::{CommandFactory as _, FromArgMatches as _};
use forge::cli::Cli;
use forge::output::{init_logging, report_failure};
use forge_core::exit_status::TABLE;

/// The parser, with the exit-status table at the end of every `--help`.
fn command() -> clap::Command {
    fn with_table(cmd: clap::Command) -> clap::Command {
        cmd.after_long_help(TABLE).mut_subcommands(with_table)
    }
    with_table(Cli::command())
}

fn main() -> std::process::ExitCode {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let name = subcommand_path(&matches);
    let global = cli.global();
    // The progress mode first: log lines are drawn through the live view.
    forge::progress::configure(global.progress);
    init_logging(cli.verbose, cli.log_format, cli.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(forge::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => report_failure(&name, &e, global).code(),
    };
    std::process::ExitCode::from(code)
}

/// `release resume`, `deploy`: the subcommands chosen, for error reports.
fn subcommand_path(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut at = matches;
    while let Some((name, sub)) = at.subcommand() {
        names.push(name);
        at = sub;
    }
    names.join(" ")
}

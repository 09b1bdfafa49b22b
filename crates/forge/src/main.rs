use clap::Parser as _;
use forge::cli::Cli;
use forge::output::{init_logging, report_error};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(forge::cli::dispatch(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            report_error(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

//! Everything the user sees besides progress (`progress`): logging setup,
//! JSON documents on stdout, and how a failed command is reported (stderr,
//! the `--json` error document, GitHub Actions annotations and outputs).

use forge_core::exit_status::ExitStatus;
use tracing_subscriber::EnvFilter;

use crate::exit::{classify, location, ErrorDocument};
use crate::github;
use crate::global::{colour_enabled, Global};

pub use crate::progress::ProgressView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `-v` shows Forge's debug messages, `-vv` everything, `-q` only errors;
/// `RUST_LOG` wins over all three. Colour follows [`colour_enabled`].
pub fn init_logging(verbose: u8, format: LogFormat, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,forge=info",
        (false, 1) => "warn,forge=debug",
        _ => "debug,forge=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::LogWriter)
        .with_target(verbose > 1);
    match format {
        LogFormat::Text => builder.without_time().with_ansi(colour_enabled()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("result serialises")
    );
}

/// A `--json` document: `body`'s fields after `"schema": "forge.<kind>/v1"`.
#[derive(serde::Serialize)]
pub struct Document<'a, T: serde::Serialize> {
    pub schema: String,
    #[serde(flatten)]
    pub body: &'a T,
}

/// The schema name of a `--json` document of `kind` (`deploy` → `forge.deploy/v1`).
pub fn schema(kind: &str) -> String {
    format!("forge.{kind}/v1")
}

/// Prints `body` (a struct or map) as the `forge.<kind>/v1` document on stdout.
pub fn print_document(kind: &str, body: &impl serde::Serialize) {
    print_json(&Document {
        schema: schema(kind),
        body,
    });
}

/// One line for the error, then its causes.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Reports the error `command` ended with, everywhere it belongs: stderr,
/// the `forge.error/v1` document on stdout under `--json`, in a GitHub
/// Actions job an `::error::` annotation (at the file and line when the
/// error has them), and `result`/`exit_code` outputs and the job summary
/// wherever their variables are set.
/// Returns the exit status.
pub fn report_failure(command: &str, err: &anyhow::Error, global: Global) -> ExitStatus {
    let status = classify(err);
    if let Some(crate::exit::Reported(_)) = err.downcast_ref() {
        // The command printed its result already.
        return status;
    }
    report_error(err);
    if global.json {
        print_json(&ErrorDocument::new(command, err));
    }
    let title = format!("forge {command}");
    if global.github_actions {
        let at = location(err);
        github::annotate("error", &title, &format!("{err:#}"), at.as_ref());
    }
    // Written wherever a CI sets the variables (no-ops otherwise).
    github::write_outputs(&[
        ("result", status.as_str().to_owned()),
        ("exit_code", status.code().to_string()),
    ]);
    let mut summary = format!(
        "### {title}: **{}**\n\n```\nerror: {err}\n",
        status.as_str()
    );
    for cause in err.chain().skip(1) {
        summary.push_str(&format!("  caused by: {cause}\n"));
    }
    summary.push_str("```\n");
    github::append_summary(&summary);
    status
}

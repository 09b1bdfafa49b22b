//! The flags every command sees, resolved once from the command line and
//! the environment (a GitHub Actions job, a terminal or not).

use std::io::IsTerminal as _;

/// How progress is shown on stderr while a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ProgressMode {
    /// A live view on a terminal, plain lines otherwise, GitHub Actions
    /// commands in a GitHub Actions job.
    #[default]
    Auto,
    /// The live multi-line view (needs a terminal).
    Tty,
    /// One timestamped line per step start and end, as they happen.
    Plain,
    /// One JSON event per line (`"schema": "forge.event/v1"`).
    Json,
    /// Plain lines in `::group::` sections, `::error::` annotations.
    Github,
    /// Nothing.
    None,
}

/// Flags every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    /// Print the result as JSON on stdout.
    pub json: bool,
    /// Only errors on stderr: no progress, no info logs.
    pub quiet: bool,
    /// The progress renderer, resolved (never `Auto`).
    pub progress: ProgressMode,
    /// Running in a GitHub Actions job (`GITHUB_ACTIONS=true`): annotations,
    /// `$GITHUB_OUTPUT` and the job summary are written.
    pub github_actions: bool,
}

impl Global {
    pub fn new(json: bool, quiet: bool, progress: ProgressMode) -> Self {
        let github_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let progress = match (quiet, progress) {
            (true, _) => ProgressMode::None,
            (false, ProgressMode::Auto) if github_actions => ProgressMode::Github,
            (false, ProgressMode::Auto) if std::io::stderr().is_terminal() => ProgressMode::Tty,
            (false, ProgressMode::Auto) => ProgressMode::Plain,
            (false, mode) => mode,
        };
        Self {
            json,
            quiet,
            progress,
            github_actions,
        }
    }
}

/// Whether log lines and progress may use colour: a terminal, unless
/// `NO_COLOR` is set (non-empty); `CLICOLOR_FORCE` (non-zero) forces it.
pub fn colour_enabled() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    set("CLICOLOR_FORCE") || std::io::stderr().is_terminal()
}

//! The one place where an error becomes an exit status (the table is
//! [`forge_core::exit_status`]), and the error as a JSON document.

use std::error::Error as StdError;
use std::fmt;

use forge_core::deploy_config::ConfigError;
use forge_core::exit_status::ExitStatus;
use forge_steps::config_file::ConfigFileError;
use forge_steps::flux_reconcile::FluxError;
use forge_steps::watch_rollout::RolloutError;

/// An error in what the user gave (a flag, a file they named): exit status 2.
/// Wrap with [`usage`]; the message and causes stay as they were.
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for UsageError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        (*self.0).source()
    }
}

/// Marks `e` as a usage or input error (exit status 2).
pub fn usage(e: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(UsageError(e.into()))
}

/// A command that has printed its own result and only needs to end with a
/// status other than success (a failed deploy's report is already out).
#[derive(Debug)]
pub struct Reported(pub ExitStatus);

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_str())
    }
}

impl StdError for Reported {}

/// Every error in `err`'s chain, looking inside [`UsageError`]s.
fn causes(err: &anyhow::Error) -> Vec<&(dyn StdError + 'static)> {
    let mut out = Vec::new();
    for cause in err.chain() {
        out.push(cause);
        if let Some(UsageError(inner)) = cause.downcast_ref::<UsageError>() {
            out.extend(inner.chain());
        }
    }
    out
}

/// The exit status for a command that ended with `err`.
pub fn classify(err: &anyhow::Error) -> ExitStatus {
    for cause in causes(err) {
        if let Some(Reported(status)) = cause.downcast_ref::<Reported>() {
            return *status;
        }
        if cause.is::<UsageError>()
            || cause.is::<Located>()
            || cause.is::<ConfigFileError>()
            || cause.is::<ConfigError>()
            || cause.is::<clap::Error>()
        {
            return ExitStatus::Usage;
        }
        match cause.downcast_ref::<FluxError>() {
            Some(FluxError::TimedOut { .. }) => return ExitStatus::InProgress,
            // deploy.yaml (or the flags) name objects that are not there.
            Some(FluxError::NotFound { .. }) => return ExitStatus::Usage,
            Some(_) => return ExitStatus::Failed,
            None => {}
        }
        if let Some(RolloutError::NotFound { .. }) = cause.downcast_ref::<RolloutError>() {
            return ExitStatus::Usage;
        }
    }
    ExitStatus::Failed
}

/// An error at a place in a file the user named (`file:line:column: message`,
/// as compilers print it): a usage error whose place reaches `--json` and
/// GitHub annotations.
#[derive(Debug)]
pub struct Located {
    pub at: Location,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Location { file, line, column } = &self.at;
        write!(f, "{file}:{line}:{column}: {}", self.message)
    }
}

impl StdError for Located {}

/// Where in a file the error is, when it says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

pub fn location(err: &anyhow::Error) -> Option<Location> {
    causes(err).into_iter().find_map(|cause| {
        if let Some(Located { at, .. }) = cause.downcast_ref::<Located>() {
            return Some(at.clone());
        }
        let config = cause.downcast_ref::<ConfigError>().or_else(|| {
            match cause.downcast_ref::<ConfigFileError>() {
                Some(ConfigFileError::Invalid(e)) => Some(e),
                _ => None,
            }
        })?;
        Some(Location {
            file: config.file.clone(),
            line: config.line,
            column: config.column,
        })
    })
}

/// `--json`'s error document on stdout (`forge.error/v1`).
#[derive(Debug, serde::Serialize)]
pub struct ErrorDocument {
    pub schema: &'static str,
    pub command: String,
    /// The error's own message (the first of the chain).
    pub message: String,
    /// What led to it, outermost first.
    pub causes: Vec<String>,
    pub exit_code: u8,
    pub result: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl ErrorDocument {
    pub fn new(command: &str, err: &anyhow::Error) -> Self {
        let status = classify(err);
        Self {
            schema: "forge.error/v1",
            command: command.to_owned(),
            message: err.to_string(),
            causes: err.chain().skip(1).map(ToString::to_string).collect(),
            exit_code: status.code(),
            result: status.as_str(),
            location: location(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_error() -> ConfigError {
        ConfigError {
            file: "deploy.yaml".into(),
            line: 3,
            column: 5,
            message: "unknown field `servces`".into(),
            suggestion: Some("services".into()),
        }
    }

    #[test]
    fn configuration_and_usage_errors_are_2_and_keep_their_location() {
        let e = anyhow::Error::new(ConfigFileError::Invalid(config_error())).context("loading");
        assert_eq!(classify(&e), ExitStatus::Usage);
        assert_eq!(location(&e).map(|l| (l.line, l.column)), Some((3, 5)));
        let e = usage(anyhow::Error::new(config_error()).context("deploy.yaml"));
        assert_eq!(classify(&e), ExitStatus::Usage);
        assert_eq!(location(&e).map(|l| l.file), Some("deploy.yaml".into()));
        assert_eq!(e.to_string(), "deploy.yaml");
        assert_eq!(
            e.chain().nth(1).map(|c| c.to_string()),
            Some(config_error().to_string())
        );
    }

    #[test]
    fn timeouts_are_3_failures_1_and_a_reported_status_is_kept() {
        let timed_out = FluxError::TimedOut {
            after: std::time::Duration::from_secs(5),
            waiting_for: "the source".into(),
        };
        assert_eq!(
            classify(&anyhow::Error::new(timed_out).context("reconciling")),
            ExitStatus::InProgress
        );
        assert_eq!(
            classify(&anyhow::anyhow!("connection refused")),
            ExitStatus::Failed
        );
        assert_eq!(
            classify(&anyhow::Error::new(Reported(ExitStatus::InProgress))),
            ExitStatus::InProgress
        );
        let doc = ErrorDocument::new("deploy", &anyhow::anyhow!("cause").context("top"));
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["schema"], "forge.error/v1");
        assert_eq!(v["causes"], serde_json::json!(["cause"]));
        assert_eq!(v["exit_code"], 1);
        assert!(v.get("file").is_none());
    }
}

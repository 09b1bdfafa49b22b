//! `verify:` checks of services and hosts: each an `http` request or a
//! `command`, with `{service}`/`{env}` expanded per target.

use super::parse::{error_at, ConfigError};
use super::pattern::{Pattern, TargetVars};
use super::resolved::{Check, Probe};
use super::types::Duration;

/// A check before `{service}`/`{env}` are expanded.
pub(super) struct CheckTemplate {
    name: String,
    http: Option<(Pattern<TargetVars>, u16, Option<String>)>,
    command: Option<Vec<String>>,
    interval: Duration,
    count: u32,
    failure_limit: u32,
    timeout: Duration,
}

impl CheckTemplate {
    pub(super) fn for_target(&self, vars: &[(&str, &str)]) -> Check {
        let probe = match (&self.http, &self.command) {
            (Some((url, status, body)), _) => Probe::Http {
                url: url.expand(vars),
                status: *status,
                body_contains: body.clone(),
            },
            (None, Some(argv)) => Probe::Command { argv: argv.clone() },
            (None, None) => unreachable!("checked when read"),
        };
        Check {
            name: self.name.clone(),
            probe,
            interval: self.interval,
            count: self.count,
            failure_limit: self.failure_limit,
            timeout: self.timeout,
        }
    }
}

/// `services.<service>.verify`: each entry is an `http` or a `command` check.
pub(super) fn resolve_checks(
    specs: &[crate::deploy_config::types::VerifySpec],
    service: &str,
    text: &str,
    file: &str,
) -> Result<Vec<CheckTemplate>, ConfigError> {
    resolve_checks_in(specs, "services", service, text, file)
}

/// The checks of `<section>.<name>.verify` (services and hosts alike).
pub(super) fn resolve_checks_in(
    specs: &[crate::deploy_config::types::VerifySpec],
    section: &str,
    service: &str,
    text: &str,
    file: &str,
) -> Result<Vec<CheckTemplate>, ConfigError> {
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let index = i.to_string();
        let at = |message: String| {
            error_at(
                text,
                file,
                &[section, service, "verify", index.as_str()],
                message,
                None,
            )
        };
        let command = spec.command.as_ref().map(|w| w.0.clone());
        let (http, kind) = match (&spec.http, &command) {
            (Some(h), None) => (
                Some((
                    h.url.clone(),
                    h.status.unwrap_or(200),
                    h.body_contains.clone(),
                )),
                "http",
            ),
            (None, Some(argv)) if !argv.is_empty() => (None, "command"),
            _ => {
                return Err(at(
                    "a check is exactly one of `http: {url: …}` and `command: [...]`".into(),
                ))
            }
        };
        if spec.count == Some(0) {
            return Err(at("count must be at least 1".into()));
        }
        out.push(CheckTemplate {
            name: spec
                .name
                .clone()
                .unwrap_or_else(|| format!("{kind}-{}", i + 1)),
            http,
            command,
            interval: spec.interval.unwrap_or(Duration(5)),
            count: spec.count.unwrap_or(1),
            failure_limit: spec.failure_limit.unwrap_or(0),
            timeout: spec.timeout.unwrap_or(Duration(30)),
        });
    }
    Ok(out)
}

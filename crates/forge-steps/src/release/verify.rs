//! Running a service's verification checks: each attempt an HTTP request or
//! a command, with its own timeout, every `interval`, until the analysis
//! passes or fails it. Every attempt is kept for the step's outputs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use forge_adapters::probe::{http_get, run_command};
use forge_core::deploy_config::{Check, Probe};
use forge_core::release::analysis::{analyse, AnalysisVerdict};
use forge_io::http::Timeouts;

/// What `FORGE_*` variables a command check gets.
#[derive(Debug, Clone)]
pub struct CheckEnv {
    pub service: String,
    pub environment: String,
    pub image: String,
    pub release: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub attempts: Vec<Attempt>,
}

/// Runs `checks` one after the other; the results of all that ran, and
/// whether every one passed.
pub async fn run_checks(checks: &[Check], env: &CheckEnv) -> (Vec<CheckResult>, bool) {
    let mut results = Vec::new();
    for check in checks {
        let result = run_check(check, env).await;
        let passed = result.passed;
        results.push(result);
        if !passed {
            return (results, false);
        }
    }
    (results, true)
}

async fn run_check(check: &Check, env: &CheckEnv) -> CheckResult {
    let (mut passed, mut failed) = (0, 0);
    let mut attempts = Vec::new();
    loop {
        let timeout = Duration::from_secs(check.timeout.0);
        let attempt = match tokio::time::timeout(timeout, attempt(&check.probe, env)).await {
            Ok(a) => a,
            Err(_) => Attempt {
                passed: false,
                detail: format!("no result within {} s", check.timeout.0),
            },
        };
        if attempt.passed {
            passed += 1;
        } else {
            failed += 1;
        }
        attempts.push(attempt);
        match analyse(passed, failed, check.count, check.failure_limit) {
            AnalysisVerdict::Continue => {
                tokio::time::sleep(Duration::from_secs(check.interval.0)).await
            }
            verdict => {
                return CheckResult {
                    name: check.name.clone(),
                    passed: verdict == AnalysisVerdict::Passed,
                    attempts,
                }
            }
        }
    }
}

async fn attempt(probe: &Probe, env: &CheckEnv) -> Attempt {
    match probe {
        Probe::Http {
            url,
            status,
            body_contains,
        } => {
            let shown = forge_core::secret::redact_url(url);
            match http_get(url, Timeouts::default()).await {
                Err(e) => Attempt {
                    passed: false,
                    detail: format!("GET {shown}: {e}"),
                },
                Ok((got, body)) => {
                    let body_ok = body_contains.as_ref().is_none_or(|b| body.contains(b));
                    let detail = if got != *status {
                        format!("GET {shown}: HTTP {got}, expected {status}")
                    } else if !body_ok {
                        format!(
                            "GET {shown}: HTTP {got}, the body lacks {:?}",
                            body_contains.as_deref().unwrap_or_default()
                        )
                    } else {
                        format!("GET {shown}: HTTP {got}")
                    };
                    Attempt {
                        passed: got == *status && body_ok,
                        detail,
                    }
                }
            }
        }
        Probe::Command { argv } => {
            let vars = BTreeMap::from([
                ("FORGE_SERVICE", env.service.clone()),
                ("FORGE_ENV", env.environment.clone()),
                ("FORGE_IMAGE", env.image.clone()),
                ("FORGE_RELEASE", env.release.clone().unwrap_or_default()),
            ]);
            match run_command(argv, &vars).await {
                Err(e) => Attempt {
                    passed: false,
                    detail: format!("{}: {e}", argv.join(" ")),
                },
                Ok(o) => Attempt {
                    passed: o.success,
                    detail: if o.stderr_tail.is_empty() {
                        format!("{}: {}", argv.join(" "), o.status)
                    } else {
                        format!("{}: {}: {}", argv.join(" "), o.status, o.stderr_tail)
                    },
                },
            }
        }
    }
}

//! Registry errors, classified for the retry policy.

use std::time::Duration;

use forge_io::http::{body_suffix as suffix, HttpError};
use forge_io::retry::Transient;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A failed request: an error status (after `method`) or a transport failure.
    #[error("{}{error}", method_prefix(.method))]
    Http {
        method: Option<String>,
        error: HttpError,
    },
    #[error("{registry}: authentication failed (HTTP {status}){}; set FORGE_REGISTRY_USER/FORGE_REGISTRY_TOKEN or log in with `docker login`", suffix(.body))]
    Auth {
        registry: String,
        status: u16,
        body: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("registry credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },
    #[error("credential helper docker-credential-{helper} for {registry}: {message}")]
    CredentialHelper {
        helper: String,
        registry: String,
        message: String,
    },
}

fn method_prefix(method: &Option<String>) -> String {
    method.as_ref().map(|m| format!("{m} ")).unwrap_or_default()
}

impl RegistryError {
    /// `method url` answered `status`.
    pub fn status(
        method: &str,
        url: &str,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    ) -> Self {
        RegistryError::Http {
            method: Some(method.to_owned()),
            error: HttpError::Status {
                url: url.to_owned(),
                status,
                body,
                retry_after,
            },
        }
    }

    /// A request to `url` failed before an answer.
    pub fn transport(url: &str, source: reqwest::Error) -> Self {
        RegistryError::Http {
            method: None,
            error: HttpError::transport(url, source),
        }
    }

    /// The HTTP status of a request that failed with one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            RegistryError::Http { error, .. } => error.status(),
            _ => None,
        }
    }
}

impl Transient for RegistryError {
    fn is_transient(&self) -> bool {
        match self {
            // A name that does not resolve will not resolve a second later.
            RegistryError::Http {
                error: HttpError::Transport { source, .. },
                ..
            } if is_name_resolution_failure(source) => false,
            RegistryError::Http { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Http { error, .. } => error.retry_after(),
            _ => None,
        }
    }
}

/// Whether `e` failed resolving the host name (hyper's "dns error"; getaddrinfo
/// says "failed to lookup address information").
pub fn is_name_resolution_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address information") {
            return true;
        }
        next = err.source();
    }
    false
}

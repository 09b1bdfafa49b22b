//! Registry errors, classified for the retry policy.

use std::time::Duration;

use forge_io::retry::Transient;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: HTTP {status}{}", suffix(.body))]
    Http {
        method: String,
        url: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{registry}: authentication failed (HTTP {status}){}; set FORGE_REGISTRY_USER/FORGE_REGISTRY_TOKEN or log in with `docker login`", suffix(.body))]
    Auth {
        registry: String,
        status: u16,
        body: String,
    },
    #[error("{url}: {source}")]
    Transport { url: String, source: reqwest::Error },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("credential helper docker-credential-{helper} for {registry}: {message}")]
    CredentialHelper {
        helper: String,
        registry: String,
        message: String,
    },
}

fn suffix(body: &str) -> String {
    let b = body.trim();
    if b.is_empty() {
        String::new()
    } else {
        format!(": {}", b.chars().take(300).collect::<String>())
    }
}

impl Transient for RegistryError {
    fn is_transient(&self) -> bool {
        match self {
            RegistryError::Http { status, .. } => forge_io::retry::is_transient_status(*status),
            RegistryError::Transport { source, .. } => {
                forge_io::retry::is_transient_transport(source)
            }
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

//! Errors shared by every cache kind, classified for the retry policy.

use std::time::Duration;

use crate::adapters::store::StoreError;
use crate::retry::Transient;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{url}: HTTP {status}{}", body_suffix(.body))]
    Http {
        url: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{url}: authentication failed (HTTP {status}); check the token or credentials{}", body_suffix(.body))]
    Auth {
        url: String,
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Protocol(String),
    #[error("invalid cache URL {url:?}: {reason}")]
    Url { url: String, reason: String },
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let short: String = body.chars().take(300).collect();
        format!(": {short}")
    }
}

impl CacheError {
    /// Builds the error for a non-success HTTP response.
    pub fn from_status(
        url: &str,
        status: reqwest::StatusCode,
        body: String,
        retry_after: Option<Duration>,
    ) -> Self {
        let url = url.to_owned();
        let status = status.as_u16();
        if status == 401 || status == 403 {
            CacheError::Auth { url, status, body }
        } else {
            CacheError::Http {
                url,
                status,
                body,
                retry_after,
            }
        }
    }

    /// Sends `req`; a non-success status becomes an error whose body is passed
    /// through `describe_body` (e.g. to decode a JSON error or redact secrets).
    pub async fn send(
        url: &str,
        req: reqwest::RequestBuilder,
        describe_body: impl FnOnce(String) -> String,
    ) -> Result<reqwest::Response, Self> {
        let resp = req.send().await.map_err(|e| Self::transport(url, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after =
            crate::retry::parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let body = describe_body(resp.text().await.unwrap_or_default());
        Err(Self::from_status(url, status, body, retry_after))
    }

    pub fn transport(url: &str, source: reqwest::Error) -> Self {
        // reqwest's Display may include the URL with credentials; keep only ours.
        CacheError::Transport {
            url: url.to_owned(),
            source: source.without_url(),
        }
    }

    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CacheError::Io {
            path: path.to_string(),
            source,
        }
    }
}

impl Transient for CacheError {
    fn is_transient(&self) -> bool {
        match self {
            CacheError::Http { status, .. } => crate::retry::is_transient_status(*status),
            CacheError::Transport { source, .. } => crate::retry::is_transient_transport(source),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            CacheError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

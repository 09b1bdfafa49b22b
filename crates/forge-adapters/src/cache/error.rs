//! Errors shared by every cache kind, classified for the retry policy.

use std::time::Duration;

use crate::store::StoreError;
use forge_io::http::HttpError;
use forge_io::retry::Transient;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Http(#[from] HttpError),
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

impl CacheError {
    pub fn transport(url: &str, source: reqwest::Error) -> Self {
        CacheError::Http(HttpError::transport(url, source))
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
            CacheError::Http(e) => e.is_transient(),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            CacheError::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

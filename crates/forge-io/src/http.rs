//! The one HTTP client builder, and HTTP failures classified for the retry policy.

use std::time::Duration;

use crate::retry::{is_transient_status, is_transient_transport, parse_retry_after, Transient};

/// The client every adapter uses. `tls`: whether HTTPS will be used; loading
/// the system's trust roots takes milliseconds a plain-HTTP push (a no-op one
/// takes ~30 ms) can skip. Proxies come from the usual environment variables.
pub fn client(tls: bool) -> reqwest::Client {
    builder(tls)
        .build()
        .expect("static client configuration is valid")
}

/// [`client`]'s settings, for adapters that add their own (redirect policy).
pub fn builder(tls: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_built_in_root_certs(tls)
        .user_agent(concat!("forge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
}

/// A request that failed at the HTTP level.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: HTTP {status}{}", body_suffix(.body))]
    Status {
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
}

/// The first 300 characters of a response body, for messages.
pub fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let short: String = body.chars().take(300).collect();
        format!(": {short}")
    }
}

impl HttpError {
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
            HttpError::Auth { url, status, body }
        } else {
            HttpError::Status {
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
        let retry_after = parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let body = describe_body(resp.text().await.unwrap_or_default());
        Err(Self::from_status(url, status, body, retry_after))
    }

    pub fn transport(url: &str, source: reqwest::Error) -> Self {
        // reqwest's Display may include the URL with credentials; keep only ours.
        HttpError::Transport {
            url: url.to_owned(),
            source: source.without_url(),
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } | HttpError::Auth { status, .. } => Some(*status),
            HttpError::Transport { .. } => None,
        }
    }
}

impl Transient for HttpError {
    fn is_transient(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => is_transient_status(*status),
            HttpError::Transport { source, .. } => is_transient_transport(source),
            HttpError::Auth { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

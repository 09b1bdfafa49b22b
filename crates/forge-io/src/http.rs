//! The one HTTP client builder, the one rule for "the server stopped
//! answering", and HTTP failures classified for the retry policy.
//!
//! Timeouts are a connect timeout and an idle timeout: a request fails when
//! no bytes move for [`Timeouts::idle`] (none of its body taken by the
//! connection, no answer, no byte of the answer read), never because it takes
//! long as a whole. A 2 GB upload over a slow link is fine; a server that
//! accepts a connection and then says nothing is not.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};

use crate::retry::{is_transient_status, is_transient_transport, parse_retry_after, Transient};

/// How long a request may wait on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For a TCP (and TLS) connection to be established.
    pub connect: Duration,
    /// For any progress once a request is under way.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// What the user's flags say about the network: how long to wait, and how
/// many attempts each request gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Network {
    pub timeouts: Timeouts,
    pub retry: crate::retry::RetryPolicy,
}

/// The client every adapter uses. `tls`: whether HTTPS will be used; loading
/// the system's trust roots takes milliseconds a plain-HTTP push (a no-op one
/// takes ~30 ms) can skip. Proxies come from the usual environment variables.
/// There is no read timeout: it would also run while a body is being sent;
/// [`within_idle`] bounds silence instead.
pub fn client(tls: bool, timeouts: Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(tls)
        .user_agent(concat!("forge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .pool_max_idle_per_host(64)
        .build()
        .expect("static client configuration is valid")
}

/// When a request last made progress; shared by its body, which touches it
/// as the connection takes each chunk, and the watchdog of [`within_idle`].
#[derive(Debug, Clone)]
pub struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Something moved just now.
    pub fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `work` (a request, or the reading of an answer) until it ends or
/// `activity` shows no progress for `idle`, which fails it with
/// [`HttpError::Idle`] naming `url`'s host.
pub async fn within_idle<T>(
    url: &str,
    idle: Duration,
    activity: &Activity,
    work: impl Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    activity.touch();
    let watchdog = async {
        loop {
            let quiet = activity.quiet_for();
            if quiet >= idle {
                break;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        result = work => result,
        () = watchdog => Err(HttpError::Idle {
            host: host_of(url),
            seconds: idle.as_secs_f64(),
        }),
    }
}

/// A streamed request body that touches `activity` each time the connection
/// takes a chunk (so a server that stops reading is noticed).
pub fn tracked_stream<S, E>(stream: S, activity: Activity) -> reqwest::Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    reqwest::Body::wrap_stream(stream.inspect(move |_| activity.touch()))
}

/// An in-memory request body, handed over in 64 KiB pieces that each touch
/// `activity`: a few MiB over a slow link is progress, not silence.
pub fn tracked_bytes(bytes: impl Into<Bytes>, activity: Activity) -> reqwest::Body {
    const PIECE: usize = 64 * 1024;
    let bytes: Bytes = bytes.into();
    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
        .step_by(PIECE)
        .map(|at| Ok(bytes.slice(at..(at + PIECE).min(bytes.len()))))
        .collect();
    tracked_stream(futures::stream::iter(pieces), activity)
}

/// `host:port` of `url` for messages (never its credentials or path).
fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => "the server".to_owned(),
        },
        Err(_) => "the server".to_owned(),
    }
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
    #[error("no answer from {host} for {seconds} s")]
    Idle { host: String, seconds: f64 },
    #[error("{url}: unexpected answer: {message}")]
    BadAnswer { url: String, message: String },
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

    /// Sends `req` and waits for its answer, failing when nothing moves for
    /// `idle` (see [`within_idle`]; `activity` is the one its body touches);
    /// a non-success status becomes an error whose body is passed through
    /// `describe_body` (e.g. to decode a JSON error or redact secrets).
    pub async fn send(
        url: &str,
        req: reqwest::RequestBuilder,
        idle: Duration,
        activity: &Activity,
        describe_body: impl FnOnce(String) -> String,
    ) -> Result<reqwest::Response, Self> {
        let resp = within_idle(url, idle, activity, async {
            req.send().await.map_err(|e| Self::transport(url, e))
        })
        .await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let body = read_text(url, resp, idle).await.unwrap_or_default();
        Err(Self::from_status(
            url,
            status,
            describe_body(body),
            retry_after,
        ))
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
            HttpError::Transport { .. } | HttpError::Idle { .. } | HttpError::BadAnswer { .. } => {
                None
            }
        }
    }
}

/// Reads an answer's body as JSON, failing when it stalls for `idle`.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    url: &str,
    resp: reqwest::Response,
    idle: Duration,
) -> Result<T, HttpError> {
    let bytes = read_bytes(url, resp, idle).await?;
    serde_json::from_slice(&bytes).map_err(|e| HttpError::BadAnswer {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// Reads an answer's body as text, failing when it stalls for `idle`.
pub async fn read_text(
    url: &str,
    resp: reqwest::Response,
    idle: Duration,
) -> Result<String, HttpError> {
    let bytes = read_bytes(url, resp, idle).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads an answer's body, failing when it stalls for `idle`.
pub async fn read_bytes(
    url: &str,
    mut resp: reqwest::Response,
    idle: Duration,
) -> Result<Vec<u8>, HttpError> {
    let activity = Activity::new();
    within_idle(url, idle, &activity, async {
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| HttpError::transport(url, e))?
        {
            activity.touch();
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    })
    .await
}

impl Transient for HttpError {
    fn is_transient(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => is_transient_status(*status),
            HttpError::Transport { source, .. } => is_transient_transport(source),
            HttpError::Idle { .. } => true,
            HttpError::Auth { .. } | HttpError::BadAnswer { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn silence_ends_a_request_and_progress_keeps_it_alive() {
        let activity = Activity::new();
        let idle = Duration::from_millis(200);
        let silent = within_idle("http://h:81/x", idle, &activity, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        let e = silent.unwrap_err();
        assert_eq!(e.to_string(), "no answer from h:81 for 0.2 s");
        assert!(e.is_transient());

        // 1 s of work in total, but never 200 ms without progress.
        let activity = Activity::new();
        let busy = within_idle("http://h:81/x", idle, &activity, async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                activity.touch();
            }
            Ok(7)
        })
        .await;
        assert_eq!(busy.unwrap(), 7);
    }

    #[test]
    fn hosts_in_messages_have_no_credentials() {
        assert_eq!(host_of("https://u:p@cache.example/x"), "cache.example:443");
        assert_eq!(host_of("not a url"), "the server");
    }
}

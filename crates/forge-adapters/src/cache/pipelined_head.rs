//! Presence checks for plain-HTTP caches with HTTP/1.1 pipelining: all HEADs
//! for a batch are written to a few connections at once and the answers read
//! back in order. A no-op push of a big closure then costs a few round trips
//! instead of one per path. Anything unexpected (a closed connection, an
//! unparsable answer) leaves the remaining paths undecided for the caller's
//! ordinary one-request-per-path check.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Connections used at once; each carries its share of the requests.
const CONNECTIONS: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(30);

/// For each `paths[i]` (relative to `base`), the HTTP status of a HEAD, or
/// `None` when it could not be learned this way.
pub async fn head_statuses(
    base: &url::Url,
    paths: &[String],
    authorization: Option<&str>,
) -> Vec<Option<u16>> {
    let (Some(host), "http") = (base.host_str(), base.scheme()) else {
        return vec![None; paths.len()];
    };
    let port = base.port_or_known_default().unwrap_or(80);
    let host_header = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let prefix = base.path().trim_end_matches('/').to_owned();
    let chunk = paths.len().div_ceil(CONNECTIONS).max(1);
    let tasks = paths.chunks(chunk).map(|part| {
        let (host, host_header, prefix) = (host.to_owned(), host_header.clone(), prefix.clone());
        let auth = authorization.map(str::to_owned);
        async move {
            let got = tokio::time::timeout(
                TIMEOUT,
                one_connection(&host, port, &host_header, &prefix, part, auth.as_deref()),
            )
            .await
            .unwrap_or_default();
            let mut out = got;
            out.resize(part.len(), None);
            out
        }
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn one_connection(
    host: &str,
    port: u16,
    host_header: &str,
    prefix: &str,
    paths: &[String],
    auth: Option<&str>,
) -> Vec<Option<u16>> {
    let mut out = Vec::with_capacity(paths.len());
    let Ok(stream) = TcpStream::connect((host, port)).await else {
        return out;
    };
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut requests = String::with_capacity(paths.len() * 96);
    for p in paths {
        requests.push_str(&format!(
            "HEAD {prefix}/{p} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: forge\r\n"
        ));
        if let Some(a) = auth {
            requests.push_str(&format!("Authorization: {a}\r\n"));
        }
        requests.push_str("\r\n");
    }
    // Write and read concurrently so neither side's buffers fill up.
    let writer = async move {
        let _ = write.write_all(requests.as_bytes()).await;
        let _ = write.flush().await;
        write
    };
    let reader = async {
        let mut lines = BufReader::new(read);
        let mut line = String::new();
        for _ in paths {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            let Some(status) = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
            else {
                break;
            };
            let mut close = false;
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if l.to_ascii_lowercase().starts_with("connection:")
                    && l.to_ascii_lowercase().contains("close")
                {
                    close = true;
                }
            }
            out.push(Some(status));
            if close {
                break;
            }
        }
    };
    let (_write, ()) = tokio::join!(writer, reader);
    out
}

//! The HTTP side of pushing to an OCI registry (distribution spec v1.1).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::auth::{parse_challenge, Authenticator};
use super::credentials::Credential;
use super::RegistryError;
use forge_io::http::{
    read_text, tracked_stream, within_idle, Activity, HttpError, Network, Timeouts,
};
use forge_io::retry::{parse_retry_after, RetryPolicy};

/// Blobs larger than this are sent in chunks of this size (PATCH), so a
/// failure costs one chunk and proxies with body limits are happy.
pub const CHUNK: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOutcome {
    Mounted,
    /// The registry opened an upload session instead (HTTP 202).
    NotMounted,
}

pub struct RegistryClient {
    registry: String,
    base: String,
    http: reqwest::Client,
    auth: Authenticator,
    pub retry: RetryPolicy,
    timeouts: Timeouts,
}

impl RegistryClient {
    /// `registry` is `host[:port]`. Plain HTTP with `insecure_http` or for loopback hosts.
    pub fn new(
        registry: &str,
        insecure_http: bool,
        credential: Option<Credential>,
        network: Network,
    ) -> Self {
        let timeouts = network.timeouts;
        let host = registry.split(':').next().unwrap_or(registry);
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
        let scheme = if insecure_http || loopback {
            "http"
        } else {
            "https"
        };
        let http = forge_io::http::client(scheme == "https", timeouts);
        Self {
            registry: registry.into(),
            base: format!("{scheme}://{registry}"),
            http,
            auth: Authenticator::new(registry, credential),
            retry: network.retry,
            timeouts,
        }
    }

    /// Sends `req` (whose body, if streamed, touches `activity`) and waits
    /// for the answer's headers, failing when nothing moves for the idle timeout.
    async fn exchange(
        &self,
        url: &str,
        req: RequestBuilder,
        activity: &Activity,
    ) -> Result<Response, RegistryError> {
        within_idle(url, self.timeouts.idle, activity, async {
            req.send().await.map_err(|e| HttpError::transport(url, e))
        })
        .await
        .map_err(|error| RegistryError::Http {
            method: None,
            error,
        })
    }

    /// [`check`] with this client's registry and idle timeout.
    async fn check(
        &self,
        resp: Response,
        method: &str,
        url: &str,
        expect: &[StatusCode],
    ) -> Result<Response, RegistryError> {
        check(resp, method, url, expect, &self.registry, self.timeouts).await
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// Sends the request `make` builds; on a 401 answers the challenge once and resends.
    async fn send(
        &self,
        scope: &str,
        expect: &[StatusCode],
        make: impl Fn() -> (Method, String, RequestBuilder),
    ) -> Result<Response, RegistryError> {
        for attempt in 0..2 {
            let (method, url, req) = make();
            let resp = self
                .exchange(&url, self.auth.apply(req, scope), &Activity::new())
                .await?;
            let status = resp.status();
            if expect.contains(&status) {
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                if let Some(challenge) = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge)
                {
                    self.auth
                        .answer(&self.http, challenge, scope, self.timeouts)
                        .await?;
                    continue;
                }
            }
            return self.check(resp, method.as_str(), &url, expect).await;
        }
        unreachable!("the loop returns on its second pass")
    }

    fn scope(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    fn request(&self, method: Method, path_or_url: &str) -> (Method, String, RequestBuilder) {
        let url = self.url(path_or_url);
        (method.clone(), url.clone(), self.http.request(method, url))
    }

    /// Checks the registry answers and our credentials work for `repo`.
    pub async fn ping(&self, repo: &str) -> Result<(), RegistryError> {
        let scope = Self::scope(repo);
        self.retry
            .run("registry /v2/", || {
                self.send(&scope, &[StatusCode::OK], || {
                    self.request(Method::GET, "/v2/")
                })
            })
            .await
            .map(drop)
    }

    pub async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let scope = Self::scope(repo);
        let path = format!("/v2/{repo}/blobs/{digest}");
        self.retry
            .run(&format!("HEAD blob {digest}"), || async {
                match self
                    .send(&scope, &[StatusCode::OK], || {
                        self.request(Method::HEAD, &path)
                    })
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.http_status() == Some(404) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await
    }

    /// Asks the registry to link a blob from `from` (same registry) into `repo`.
    pub async fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &str,
    ) -> Result<MountOutcome, RegistryError> {
        let scope = format!("{} repository:{from}:pull", Self::scope(repo));
        let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        let resp = self
            .retry
            .run(&format!("mount {digest}"), || {
                self.send(&scope, &[StatusCode::CREATED, StatusCode::ACCEPTED], || {
                    self.request(Method::POST, &path)
                })
            })
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(MountOutcome::Mounted);
        }
        // Close the upload session the registry opened instead; it would expire anyway.
        if let Some(loc) = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
        {
            let _ = self
                .send(
                    &Self::scope(repo),
                    &[StatusCode::NO_CONTENT, StatusCode::NOT_FOUND],
                    || self.request(Method::DELETE, loc),
                )
                .await;
        }
        Ok(MountOutcome::NotMounted)
    }

    /// Uploads the blob in file `path` (streamed, chunked when large).
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        path: &Path,
        size: u64,
        progress: &Arc<AtomicU64>,
    ) -> Result<(), RegistryError> {
        self.retry
            .run(&format!("upload {digest}"), || async {
                let mut sent = 0;
                let r = self
                    .upload_once(repo, digest, path, size, progress, &mut sent)
                    .await;
                if r.is_err() {
                    progress.fetch_sub(sent, Ordering::Relaxed);
                }
                r
            })
            .await
    }

    async fn upload_once(
        &self,
        repo: &str,
        digest: &str,
        path: &Path,
        size: u64,
        progress: &Arc<AtomicU64>,
        sent: &mut u64,
    ) -> Result<(), RegistryError> {
        let scope = Self::scope(repo);
        let start = format!("/v2/{repo}/blobs/uploads/");
        let resp = self
            .send(&scope, &[StatusCode::ACCEPTED], || {
                self.request(Method::POST, &start)
            })
            .await?;
        let mut location = self.location(&resp)?;
        if size > CHUNK {
            let mut offset = 0;
            while offset < size {
                let len = CHUNK.min(size - offset);
                let activity = Activity::new();
                let body =
                    file_range_body(path, offset, len, progress.clone(), activity.clone()).await?;
                let loc = location.clone();
                // A streamed body cannot be resent; the token is already in place from POST.
                let (_, url, req) = self.request(Method::PATCH, &loc);
                let req = self
                    .auth
                    .apply(req, &scope)
                    .header("content-type", "application/octet-stream")
                    .header("content-range", format!("{}-{}", offset, offset + len - 1))
                    .header("content-length", len)
                    .body(body);
                let resp = self.exchange(&url, req, &activity).await?;
                let resp = self
                    .check(resp, "PATCH", &url, &[StatusCode::ACCEPTED])
                    .await?;
                location = self.location(&resp)?;
                offset += len;
                *sent += len;
            }
            let url = with_digest(&location, digest);
            let (_, url, req) = self.request(Method::PUT, &url);
            let req = self.auth.apply(req, &scope).header("content-length", 0);
            let resp = self.exchange(&url, req, &Activity::new()).await?;
            self.check(resp, "PUT", &url, &[StatusCode::CREATED])
                .await?;
        } else {
            let activity = Activity::new();
            let body = file_range_body(path, 0, size, progress.clone(), activity.clone()).await?;
            let url = with_digest(&location, digest);
            let (_, url, req) = self.request(Method::PUT, &url);
            let req = self
                .auth
                .apply(req, &scope)
                .header("content-type", "application/octet-stream")
                .header("content-length", size)
                .body(body);
            let resp = self.exchange(&url, req, &activity).await?;
            self.check(resp, "PUT", &url, &[StatusCode::CREATED])
                .await?;
            *sent += size;
        }
        Ok(())
    }

    fn location(&self, resp: &Response) -> Result<String, RegistryError> {
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.registry.clone(),
                message: "upload session without a Location header".into(),
            })
    }

    /// Pushes manifest bytes as they are; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, RegistryError> {
        let scope = Self::scope(repo);
        let path = format!("/v2/{repo}/manifests/{reference}");
        let body = Bytes::copy_from_slice(bytes);
        let resp = self
            .retry
            .run(&format!("PUT manifest {reference}"), || {
                self.send(&scope, &[StatusCode::CREATED], || {
                    let (m, u, r) = self.request(Method::PUT, &path);
                    (
                        m,
                        u,
                        r.header("content-type", media_type).body(body.clone()),
                    )
                })
            })
            .await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// The digest a tag currently points at, if any.
    pub async fn manifest_digest(
        &self,
        repo: &str,
        reference: &str,
        accept: &str,
    ) -> Result<Option<String>, RegistryError> {
        let scope = Self::scope(repo);
        let path = format!("/v2/{repo}/manifests/{reference}");
        match self
            .send(&scope, &[StatusCode::OK], || {
                let (m, u, r) = self.request(Method::HEAD, &path);
                (m, u, r.header("accept", accept))
            })
            .await
        {
            Ok(resp) => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)),
            Err(e) if e.http_status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

async fn check(
    resp: Response,
    method: &str,
    url: &str,
    expect: &[StatusCode],
    registry: &str,
    timeouts: Timeouts,
) -> Result<Response, RegistryError> {
    let status = resp.status();
    if expect.contains(&status) {
        return Ok(resp);
    }
    let retry_after = parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
    let body = read_text(url, resp, timeouts.idle)
        .await
        .unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RegistryError::Auth {
            registry: registry.into(),
            status: status.as_u16(),
            body,
        });
    }
    Err(RegistryError::status(
        method,
        url,
        status.as_u16(),
        body,
        retry_after,
    ))
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// A request body streaming `len` bytes of `path` from `offset`, counting progress.
async fn file_range_body(
    path: &Path,
    offset: u64,
    len: u64,
    progress: Arc<AtomicU64>,
    activity: Activity,
) -> Result<reqwest::Body, RegistryError> {
    let io_err = |source| RegistryError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io_err)?;
    let stream =
        futures::stream::unfold((file.take(len), progress), |(mut f, progress)| async move {
            let mut buf = vec![0u8; 256 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    progress.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (f, progress)))
                }
                Err(e) => Some((Err(e), (f, progress))),
            }
        });
    Ok(tracked_stream(stream, activity))
}

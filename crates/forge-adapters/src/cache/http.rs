//! A Nix binary cache written over HTTP PUT (nginx WebDAV, S3-compatible
//! gateways, ...). Presence is a HEAD on the narinfo; the NAR is PUT before
//! the narinfo, so readers never see a narinfo without its NAR.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, RequestBuilder};

use super::channel_body::{body_channel, streamed_outcome};
use super::compress::{compress_in_memory, compress_streaming, IN_MEMORY_LIMIT};
use super::pipelined_head;
use super::{
    redact_url, BinaryCache, ByteProgress, CacheAccess, CacheError, UploadJob, UploadOutcome,
};
use crate::store::LocalStore;
use forge_core::nix::narinfo::{self, Compression, NarFile};
use forge_core::nix::path_info::PathInfo;
use forge_core::secret::Secret;
use forge_io::http::{tracked_bytes, Activity, HttpError, Timeouts};
use forge_io::retry::RetryPolicy;

/// Parallel HEAD requests when checking which paths exist.
const HEAD_CONCURRENCY: usize = 64;

pub struct HttpCache {
    /// Base URL ending in `/`, without credentials.
    base: String,
    client: reqwest::Client,
    basic: Option<(String, Secret)>,
    bearer: Option<Secret>,
    retry: RetryPolicy,
    timeouts: Timeouts,
}

impl HttpCache {
    pub fn new(url: &str, access: CacheAccess) -> Result<Self, CacheError> {
        let mut parsed = url::Url::parse(url).map_err(|e| CacheError::Url {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let basic = if parsed.username().is_empty() {
            None
        } else {
            Some((
                parsed.username().to_owned(),
                Secret::new(parsed.password().unwrap_or_default()),
            ))
        };
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        parsed.set_query(None);
        let mut base = parsed.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self {
            client: forge_io::http::client(base.starts_with("https://"), access.network.timeouts),
            base,
            basic,
            bearer: access.token,
            retry: access.network.retry,
            timeouts: access.network.timeouts,
        })
    }

    /// The `Authorization` header value this cache's requests carry, if any.
    fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        if let Some((user, pass)) = &self.basic {
            let raw = format!("{user}:{}", pass.expose());
            return Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ));
        }
        self.bearer
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()))
    }

    fn request(&self, method: Method, rel: &str) -> (String, RequestBuilder) {
        let url = format!("{}{rel}", self.base);
        let mut req = self.client.request(method, &url);
        if let Some((user, pass)) = &self.basic {
            req = req.basic_auth(user, Some(pass.expose()));
        } else if let Some(token) = &self.bearer {
            req = req.bearer_auth(token.expose());
        }
        (url, req)
    }

    /// Sends `req`, whose body (if any) touches `activity`; bodies that
    /// echo what we sent are redacted.
    async fn send(
        &self,
        url: &str,
        req: RequestBuilder,
        activity: &Activity,
    ) -> Result<reqwest::Response, CacheError> {
        Ok(
            HttpError::send(url, req, self.timeouts.idle, activity, |body| {
                self.redact(body)
            })
            .await?,
        )
    }

    /// Removes this cache's credentials from a server's answer, in every
    /// form a request carried them (a server may quote its headers).
    fn redact(&self, body: String) -> String {
        let mut body = body;
        for secret in self.credential_forms() {
            body = forge_core::secret::redact(&body, &secret);
        }
        body
    }

    fn credential_forms(&self) -> Vec<Secret> {
        let mut forms = Vec::new();
        if let Some((_, pass)) = &self.basic {
            forms.push(pass.clone());
        }
        if let Some(header) = self.authorization() {
            // `Basic <base64>` / `Bearer <token>`: the part after the scheme.
            if let Some((_, value)) = header.split_once(' ') {
                forms.push(Secret::new(value));
            }
        }
        if let Some(t) = &self.bearer {
            forms.push(t.clone());
        }
        forms.retain(|s| !s.is_empty());
        forms
    }

    async fn put_bytes(
        &self,
        rel: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), CacheError> {
        let body = bytes::Bytes::from(body);
        self.retry
            .run(&format!("PUT {rel}"), || {
                let (url, req) = self.request(Method::PUT, rel);
                let activity = Activity::new();
                let req = req
                    .header("content-type", content_type)
                    .body(tracked_bytes(body.clone(), activity.clone()));
                async move { self.send(&url, req, &activity).await.map(drop) }
            })
            .await
    }

    async fn exists(&self, rel: &str) -> Result<bool, CacheError> {
        self.retry
            .run(&format!("HEAD {rel}"), || {
                let (url, req) = self.request(Method::HEAD, rel);
                async move {
                    match self.send(&url, req, &Activity::new()).await {
                        Ok(_) => Ok(true),
                        Err(CacheError::Http(HttpError::Status { status: 404, .. })) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
            })
            .await
    }

    /// Streams a large NAR; it is named by its NAR hash because the file hash
    /// is only known once the upload has finished.
    async fn put_streaming(
        &self,
        store: &Arc<LocalStore>,
        info: &PathInfo,
        progress: &ByteProgress,
    ) -> Result<NarFile, CacheError> {
        let rel = format!(
            "nar/{}{}",
            info.nar_hash.to_nix32(),
            Compression::Zstd.extension()
        );
        let activity = Activity::new();
        let (writer, body) = body_channel(activity.clone());
        let (store2, info2, attempt) = (store.clone(), info.clone(), progress.attempt());
        let producer = tokio::task::spawn_blocking(move || {
            let (writer, hash, size) = compress_streaming(&store2, &info2, writer, attempt)?;
            writer
                .commit()
                .map_err(|e| CacheError::io(info2.path.as_str(), e))?;
            Ok::<_, CacheError>((hash, size))
        });
        let (url, req) = self.request(Method::PUT, &rel);
        let sent = self
            .send(
                &url,
                req.header("content-type", "application/x-nix-nar")
                    .body(body),
                &activity,
            )
            .await;
        let mut produced = None;
        let producer_result = producer
            .await
            .expect("NAR producer panicked")
            .map(|p| produced = Some(p));
        streamed_outcome(sent.map(drop), producer_result)?;
        let (file_hash, file_size) = produced.ok_or_else(|| {
            CacheError::Protocol(format!(
                "{url}: the server answered before the whole NAR was sent"
            ))
        })?;
        Ok(NarFile {
            url: rel,
            compression: Compression::Zstd,
            file_hash,
            file_size,
        })
    }
}

impl BinaryCache for HttpCache {
    fn display_url(&self) -> String {
        self.base.trim_end_matches('/').to_owned()
    }

    async fn prepare(&self) -> Result<(), CacheError> {
        if !self.exists("nix-cache-info").await? {
            self.put_bytes(
                "nix-cache-info",
                "text/x-nix-cache-info",
                b"StoreDir: /nix/store\nWantMassQuery: 1\n".to_vec(),
            )
            .await?;
        }
        Ok(())
    }

    async fn present(&self, paths: &[PathInfo]) -> Result<HashSet<String>, CacheError> {
        let hashes: Vec<String> = paths
            .iter()
            .map(|p| p.path.hash_part().to_owned())
            .collect();
        let rels: Vec<String> = hashes.iter().map(|h| format!("{h}.narinfo")).collect();
        let statuses = match url::Url::parse(&self.base) {
            Ok(base) => {
                pipelined_head::head_statuses(&base, &rels, self.authorization().as_deref()).await
            }
            Err(_) => vec![None; rels.len()],
        };
        let mut present = HashSet::new();
        let mut undecided = Vec::new();
        for (hash, status) in hashes.into_iter().zip(statuses) {
            match status {
                Some(200) => {
                    present.insert(hash);
                }
                Some(404) => {}
                // Anything else (auth, errors, no answer) gets the ordinary check with retries.
                _ => undecided.push(hash),
            }
        }
        if !undecided.is_empty() {
            tracing::debug!(
                "{} presence checks fall back to one request each",
                undecided.len()
            );
        }
        let found: Vec<String> = futures::stream::iter(undecided)
            .map(|hash| async move {
                let found = self.exists(&format!("{hash}.narinfo")).await?;
                Ok::<_, CacheError>(found.then_some(hash))
            })
            .buffer_unordered(HEAD_CONCURRENCY)
            .try_filter_map(|h| async move { Ok(h) })
            .try_collect()
            .await?;
        present.extend(found);
        Ok(present)
    }

    async fn upload(
        &self,
        store: &Arc<LocalStore>,
        job: &UploadJob,
        progress: &ByteProgress,
    ) -> Result<UploadOutcome, CacheError> {
        let info = &job.info;
        let file = if info.nar_size <= IN_MEMORY_LIMIT {
            let (store2, info2, attempt) = (store.clone(), info.clone(), progress.attempt());
            let c =
                tokio::task::spawn_blocking(move || compress_in_memory(&store2, &info2, attempt))
                    .await
                    .expect("compression task panicked")?;
            let rel = format!(
                "nar/{}{}",
                c.file_hash.to_nix32(),
                Compression::Zstd.extension()
            );
            let file_size = c.bytes.len() as u64;
            let (url, req) = self.request(Method::PUT, &rel);
            let activity = Activity::new();
            self.send(
                &url,
                req.header("content-type", "application/x-nix-nar")
                    .body(tracked_bytes(c.bytes, activity.clone())),
                &activity,
            )
            .await?;
            NarFile {
                url: rel,
                compression: Compression::Zstd,
                file_hash: c.file_hash,
                file_size,
            }
        } else {
            self.put_streaming(store, info, progress).await?
        };
        let text = narinfo::render(info, &file, &job.sigs);
        let (url, req) = self.request(Method::PUT, &format!("{}.narinfo", info.path.hash_part()));
        let activity = Activity::new();
        self.send(
            &url,
            req.header("content-type", "text/x-nix-narinfo")
                .body(tracked_bytes(text, activity.clone())),
            &activity,
        )
        .await?;
        Ok(UploadOutcome::Uploaded)
    }
}

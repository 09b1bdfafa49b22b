//! Pushing to an Attic cache: batched `get-missing-paths`, then one streaming
//! `upload-path` per missing path with the uncompressed NAR (the server compresses).

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;

use super::channel_body::{body_channel, streamed_outcome};
use super::compress::IN_MEMORY_LIMIT;
use super::progress::CountingWriter;
use super::{
    redact_url, BinaryCache, ByteProgress, CacheAccess, CacheError, UploadJob, UploadOutcome,
};
use crate::store::LocalStore;
use forge_attic::{AtticClient, InfoPlacement};
use forge_core::attic::{CacheConfig, UploadPathNarInfo, UploadPathResultKind};
use forge_core::nix::path_info::PathInfo;
use forge_core::secret::Secret;
use forge_io::http::{tracked_bytes, Activity};
use forge_io::retry::RetryPolicy;

/// Hashes per `get-missing-paths` request: keeps clear of database parameter
/// limits and proxy body limits.
pub const MISSING_BATCH: usize = 2000;

pub struct AtticCache {
    client: AtticClient,
    cache: String,
    retry: RetryPolicy,
    /// The cache's configuration, read once.
    config: tokio::sync::OnceCell<CacheConfig>,
}

impl AtticCache {
    /// `attic://host/cache` (HTTPS) or `attic+http(s)://host:port[/prefix]/cache`.
    /// User-info in the URL never reaches the endpoint (so it is never
    /// printed); a password there is taken as the token when none is given.
    pub fn new(url: &str, access: CacheAccess) -> Result<Self, CacheError> {
        let bad = |reason: &str| CacheError::Url {
            url: redact_url(url),
            reason: reason.into(),
        };
        let (scheme, rest) = if let Some(r) = url.strip_prefix("attic+http://") {
            ("http", r)
        } else if let Some(r) = url.strip_prefix("attic+https://") {
            ("https", r)
        } else if let Some(r) = url.strip_prefix("attic://") {
            ("https", r)
        } else {
            return Err(bad("not an attic URL"));
        };
        let rest = rest.trim_end_matches('/');
        let (server, cache) = rest
            .rsplit_once('/')
            .ok_or_else(|| bad("missing the cache name: attic://HOST/CACHE"))?;
        if cache.is_empty() || server.is_empty() {
            return Err(bad("missing the cache name: attic://HOST/CACHE"));
        }
        let (userinfo, host) = match server.split_once('/') {
            // Only the authority can carry user-info.
            Some((authority, path)) => match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), format!("{h}/{path}")),
                None => (None, server.to_owned()),
            },
            None => match server.rsplit_once('@') {
                Some((u, h)) => (Some(u), h.to_owned()),
                None => (None, server.to_owned()),
            },
        };
        let url_token = userinfo
            .and_then(|u| u.split_once(':'))
            .map(|(_, p)| Secret::new(p))
            .filter(|s| !s.is_empty());
        let token = access.token.or(url_token);
        Ok(Self {
            client: AtticClient::with_timeouts(
                &format!("{scheme}://{host}/"),
                token,
                access.network.timeouts,
            ),
            cache: cache.to_owned(),
            retry: access.network.retry,
            config: tokio::sync::OnceCell::new(),
        })
    }

    async fn config(&self) -> Result<&CacheConfig, CacheError> {
        self.config
            .get_or_try_init(|| async {
                self.retry
                    .run("attic cache-config", || {
                        self.client.get_cache_config(&self.cache)
                    })
                    .await
                    .map_err(CacheError::from)
            })
            .await
    }

    fn upload_info(&self, job: &UploadJob) -> UploadPathNarInfo {
        let info = &job.info;
        UploadPathNarInfo {
            cache: self.cache.clone(),
            store_path_hash: info.path.hash_part().to_owned(),
            store_path: info.path.to_string(),
            references: info
                .references
                .iter()
                .map(|r| r.base_name().to_owned())
                .collect(),
            system: None,
            deriver: info.deriver.as_ref().map(|d| d.base_name().to_owned()),
            sigs: job.sigs.clone(),
            ca: info.ca.clone(),
            nar_hash: info.nar_hash.to_hex_typed(),
            nar_size: info.nar_size,
        }
    }
}

impl BinaryCache for AtticCache {
    fn display_url(&self) -> String {
        format!("{}{} (attic)", self.client.endpoint(), self.cache)
    }

    async fn prepare(&self) -> Result<(), CacheError> {
        // Checks that the cache exists and the token can read it.
        self.config().await.map(drop)
    }

    async fn upstream_keys(&self) -> Result<Option<Vec<String>>, CacheError> {
        Ok(self.config().await?.upstream_cache_key_names.clone())
    }

    fn signs_itself(&self) -> bool {
        true
    }

    async fn present(&self, paths: &[PathInfo]) -> Result<HashSet<String>, CacheError> {
        let mut present = HashSet::with_capacity(paths.len());
        for batch in paths.chunks(MISSING_BATCH) {
            let hashes: Vec<&str> = batch.iter().map(|p| p.path.hash_part()).collect();
            let missing: HashSet<String> = self
                .retry
                .run("attic get-missing-paths", || {
                    self.client.get_missing_paths(&self.cache, &hashes)
                })
                .await?
                .into_iter()
                .collect();
            present.extend(
                hashes
                    .iter()
                    .filter(|h| !missing.contains(**h))
                    .map(|h| h.to_string()),
            );
        }
        Ok(present)
    }

    async fn upload(
        &self,
        store: &Arc<LocalStore>,
        job: &UploadJob,
        progress: &ByteProgress,
    ) -> Result<UploadOutcome, CacheError> {
        let placement = InfoPlacement::for_info(&self.upload_info(job));
        let info = job.info.clone();
        let result = if info.nar_size <= IN_MEMORY_LIMIT {
            let (store2, preamble, mut attempt) = (
                store.clone(),
                placement.preamble().to_vec(),
                progress.attempt(),
            );
            let body = tokio::task::spawn_blocking(move || {
                let mut buf = preamble;
                buf.reserve(info.nar_size as usize);
                let buf = store2.dump_verified(&info, buf)?;
                attempt.add(info.nar_size);
                attempt.commit();
                Ok::<_, CacheError>(buf)
            })
            .await
            .expect("NAR task panicked")?;
            let activity = Activity::new();
            self.client
                .upload_path(&placement, tracked_bytes(body, activity.clone()), &activity)
                .await?
        } else {
            let activity = Activity::new();
            let (mut writer, body) = body_channel(activity.clone());
            let (store2, preamble, attempt) = (
                store.clone(),
                placement.preamble().to_vec(),
                progress.attempt(),
            );
            let producer = tokio::task::spawn_blocking(move || {
                let io_err = |e| CacheError::io(info.path.as_str(), e);
                writer.write_all(&preamble).map_err(io_err)?;
                let counting = CountingWriter {
                    inner: writer,
                    bytes: attempt,
                };
                let counting = store2.dump_verified(&info, counting)?;
                counting.bytes.commit();
                counting.inner.commit().map_err(io_err)
            });
            let sent = self
                .client
                .upload_path(&placement, body, &activity)
                .await
                .map_err(CacheError::from);
            streamed_outcome(sent, producer.await.expect("NAR task panicked"))?
        };
        Ok(match result.kind {
            UploadPathResultKind::Uploaded => UploadOutcome::Uploaded,
            UploadPathResultKind::Deduplicated => UploadOutcome::Deduplicated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_endpoint_and_cache() {
        let c =
            AtticCache::new("attic+http://127.0.0.1:8080/main", CacheAccess::default()).unwrap();
        assert_eq!(
            (c.client.endpoint(), c.cache.as_str()),
            ("http://127.0.0.1:8080/", "main")
        );
        let c = AtticCache::new("attic://cache.example.com/team/", CacheAccess::default()).unwrap();
        assert_eq!(
            (c.client.endpoint(), c.cache.as_str()),
            ("https://cache.example.com/", "team")
        );
        assert!(AtticCache::new("attic://hostonly", CacheAccess::default()).is_err());
        let c = AtticCache::new(
            "attic+http://u:tok@127.0.0.1:8080/main",
            CacheAccess::default(),
        )
        .unwrap();
        assert_eq!(
            c.client.endpoint(),
            "http://127.0.0.1:8080/",
            "no user-info in the endpoint"
        );
    }
}

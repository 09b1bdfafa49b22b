//! Binary caches Forge pushes closures to, all behind [`BinaryCache`]:
//! a local directory (`file://`), any HTTP server that accepts PUT (`http(s)://`),
//! and Attic (`attic://`, `attic+http://`).

pub mod attic;
pub mod channel_body;
pub mod compress;
pub mod error;
pub mod file;
pub mod http;
pub mod pipelined_head;
pub mod progress;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

pub use error::CacheError;
pub use progress::ByteProgress;

use crate::store::LocalStore;
use forge_core::nix::path_info::PathInfo;
pub use forge_core::secret::redact_url;
use forge_core::secret::Secret;
use forge_io::http::Network;

/// One path to upload, with the signatures its narinfo should carry.
#[derive(Debug, Clone)]
pub struct UploadJob {
    pub info: PathInfo,
    pub sigs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadOutcome {
    Uploaded,
    /// The cache already held the same NAR content (Attic deduplication).
    Deduplicated,
}

pub trait BinaryCache: Send + Sync + 'static {
    /// The cache URL without credentials.
    fn display_url(&self) -> String;

    /// Prepares the cache for writing (creates `nix-cache-info`, checks access).
    fn prepare(&self) -> impl Future<Output = Result<(), CacheError>> + Send;

    /// Hash parts (32-char nix32) of the given paths that the cache already has.
    fn present(
        &self,
        paths: &[PathInfo],
    ) -> impl Future<Output = Result<HashSet<String>, CacheError>> + Send;

    /// Uploads one path. Called again on transient failures, so it must be
    /// safe to repeat; it must never leave a narinfo that points at a missing NAR.
    fn upload(
        &self,
        store: &Arc<LocalStore>,
        job: &UploadJob,
        progress: &ByteProgress,
    ) -> impl Future<Output = Result<UploadOutcome, CacheError>> + Send;

    /// The keys whose paths this cache itself leaves to an upstream cache
    /// (Attic's `upstream_cache_key_names`); `None`: the cache has no say.
    fn upstream_keys(
        &self,
    ) -> impl Future<Output = Result<Option<Vec<String>>, CacheError>> + Send {
        async { Ok(None) }
    }

    /// Whether the cache serves its own signatures only (a narinfo signature
    /// made by Forge would not reach clients).
    fn signs_itself(&self) -> bool {
        false
    }
}

/// How a cache is reached: credentials, network timeouts, and the retry
/// policy of every request that is not an upload (`nix-cache-info`, Attic's
/// cache config, presence checks); uploads follow the pusher's policy.
#[derive(Debug, Clone, Default)]
pub struct CacheAccess {
    pub token: Option<Secret>,
    pub network: Network,
}

/// The kinds of cache a URL can name.
pub enum AnyCache {
    File(file::FileCache),
    Http(http::HttpCache),
    Attic(attic::AtticCache),
}

impl AnyCache {
    /// The cache URL without credentials.
    pub fn display_url(&self) -> String {
        match self {
            AnyCache::File(c) => c.display_url(),
            AnyCache::Http(c) => c.display_url(),
            AnyCache::Attic(c) => c.display_url(),
        }
    }

    pub fn open(url: &str, access: CacheAccess) -> Result<Self, CacheError> {
        let bad = |reason: &str| CacheError::Url {
            url: redact_url(url),
            reason: reason.into(),
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad(
                    "file:// URLs need an absolute path, e.g. file:///var/cache/nix",
                ));
            }
            return Ok(AnyCache::File(file::FileCache::new(
                path.split('?').next().unwrap_or(path),
            )));
        }
        if url.starts_with("attic://")
            || url.starts_with("attic+http://")
            || url.starts_with("attic+https://")
        {
            return Ok(AnyCache::Attic(attic::AtticCache::new(url, access)?));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(AnyCache::Http(http::HttpCache::new(url, access)?));
        }
        Err(bad("expected file:///DIR, http(s)://HOST/PREFIX, attic://HOST/CACHE or attic+http://HOST:PORT/CACHE"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_right_kind() {
        assert!(matches!(
            AnyCache::open("file:///tmp/c", CacheAccess::default()),
            Ok(AnyCache::File(_))
        ));
        assert!(matches!(
            AnyCache::open("http://h:1/x", CacheAccess::default()),
            Ok(AnyCache::Http(_))
        ));
        assert!(matches!(
            AnyCache::open("attic+http://h:1/main", CacheAccess::default()),
            Ok(AnyCache::Attic(_))
        ));
        let e = AnyCache::open("s3://bucket", CacheAccess::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("s3://bucket"));
        assert!(AnyCache::open("file://relative", CacheAccess::default()).is_err());
    }
}

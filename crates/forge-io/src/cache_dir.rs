//! Where Forge keeps what it can rebuild (layer blobs, GitOps clones).

use std::path::PathBuf;

/// `$FORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/forge`, else `~/.cache/forge`
/// (the system's temp folder when there is no home).
pub fn forge_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FORGE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("forge")
}

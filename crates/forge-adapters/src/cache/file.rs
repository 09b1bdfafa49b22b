//! A Nix binary cache in a local directory (`file:///dir`).
//!
//! Every file is written to a temporary name and renamed into place, NAR first
//! and narinfo last, so an interrupted push never leaves a narinfo pointing at
//! a missing or partial NAR.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::compress::{compress_in_memory, compress_streaming, IN_MEMORY_LIMIT};
use super::{BinaryCache, ByteProgress, CacheError, UploadJob, UploadOutcome};
use crate::store::LocalStore;
use forge_core::nix::narinfo::{self, Compression, NarFile};
use forge_core::nix::path_info::PathInfo;
use forge_io::atomic_file::{self, FileMode};

/// Temporary files untouched this long are leftovers of a killed push.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct FileCache {
    root: PathBuf,
}

impl FileCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn upload_blocking(
        &self,
        store: &LocalStore,
        job: &UploadJob,
        progress: &ByteProgress,
    ) -> Result<UploadOutcome, CacheError> {
        let info = &job.info;
        let nar_dir = self.root.join("nar");
        let (file_hash, file_size) = if info.nar_size <= IN_MEMORY_LIMIT {
            let c = compress_in_memory(store, info, progress.attempt())?;
            let dest = nar_dir.join(nar_name(&c.file_hash));
            write_atomically(&dest, &c.bytes)?;
            (c.file_hash, c.bytes.len() as u64)
        } else {
            let tmp =
                atomic_file::temp_in(&nar_dir).map_err(|e| CacheError::io(nar_dir.display(), e))?;
            // The temp file is removed on every error path when `tmp` drops.
            let out = std::io::BufWriter::with_capacity(1 << 20, tmp);
            let (out, file_hash, file_size) =
                compress_streaming(store, info, out, progress.attempt())?;
            let tmp = out
                .into_inner()
                .map_err(|e| CacheError::io(nar_dir.display(), e.into_error()))?;
            let dest = nar_dir.join(nar_name(&file_hash));
            atomic_file::publish(tmp, &dest).map_err(|e| CacheError::io(dest.display(), e))?;
            (file_hash, file_size)
        };
        let file = NarFile {
            url: format!("nar/{}", nar_name(&file_hash)),
            compression: Compression::Zstd,
            file_hash,
            file_size,
        };
        let text = narinfo::render(info, &file, &job.sigs);
        write_atomically(
            &self.root.join(format!("{}.narinfo", info.path.hash_part())),
            text.as_bytes(),
        )?;
        Ok(UploadOutcome::Uploaded)
    }
}

fn nar_name(file_hash: &forge_core::nix::hash::Sha256) -> String {
    format!("{}{}", file_hash.to_nix32(), Compression::Zstd.extension())
}

/// Writes `bytes` to `dest` atomically, readable as the umask allows (a web
/// server running as another user serves the cache).
pub(crate) fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    atomic_file::write(dest, bytes, FileMode::Shared).map_err(|e| CacheError::io(dest.display(), e))
}

impl BinaryCache for FileCache {
    fn display_url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn prepare(&self) -> Result<(), CacheError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let nar = root.join("nar");
            fs::create_dir_all(&nar).map_err(|e| CacheError::io(nar.display(), e))?;
            // What killed pushes left; a push still running touches its own
            // temp files far more often than this.
            let removed = atomic_file::remove_stale_temps(&nar, STALE_TEMP_AGE)
                + atomic_file::remove_stale_temps(&root, STALE_TEMP_AGE);
            if removed > 0 {
                tracing::info!("removed {removed} temporary file(s) left by interrupted pushes");
            }
            let info = root.join("nix-cache-info");
            if !info.exists() {
                write_atomically(&info, b"StoreDir: /nix/store\nWantMassQuery: 1\n")?;
            }
            Ok(())
        })
        .await
        .expect("prepare task panicked")
    }

    async fn present(&self, paths: &[PathInfo]) -> Result<HashSet<String>, CacheError> {
        let root = self.root.clone();
        let hashes: Vec<String> = paths
            .iter()
            .map(|p| p.path.hash_part().to_owned())
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut name = String::with_capacity(48);
            Ok(hashes
                .into_iter()
                .filter(|h| {
                    name.clear();
                    name.push_str(h);
                    name.push_str(".narinfo");
                    root.join(&name).exists()
                })
                .collect())
        })
        .await
        .expect("present task panicked")
    }

    async fn upload(
        &self,
        store: &Arc<LocalStore>,
        job: &UploadJob,
        progress: &ByteProgress,
    ) -> Result<UploadOutcome, CacheError> {
        let this = FileCache {
            root: self.root.clone(),
        };
        let (store, job, progress) = (store.clone(), job.clone(), progress.clone());
        tokio::task::spawn_blocking(move || this.upload_blocking(&store, &job, &progress))
            .await
            .expect("upload task panicked")
    }
}

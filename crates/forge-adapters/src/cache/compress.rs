//! Producing compressed NAR files from store paths: in memory for small paths
//! (one reusable compressor per thread), streaming for large ones.

use std::cell::RefCell;
use std::io::Write;

use super::progress::{AttemptBytes, CountingWriter};
use super::CacheError;
use crate::store::{HashingWriter, LocalStore};
use forge_core::nix::hash::Sha256;
use forge_core::nix::path_info::PathInfo;

/// zstd level Nix uses by default.
pub const ZSTD_LEVEL: i32 = 3;
/// NARs up to this size are built in memory.
pub const IN_MEMORY_LIMIT: u64 = 4 * 1024 * 1024;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

pub struct CompressedNar {
    pub bytes: Vec<u8>,
    pub file_hash: Sha256,
}

/// Dumps, verifies and zstd-compresses a small path in memory.
pub fn compress_in_memory(
    store: &LocalStore,
    info: &PathInfo,
    mut bytes: AttemptBytes,
) -> Result<CompressedNar, CacheError> {
    let nar = store.dump_verified(info, Vec::with_capacity(info.nar_size as usize))?;
    bytes.add(nar.len() as u64);
    let compressed = COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(
                zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| CacheError::io("zstd", e))?,
            );
        }
        slot.as_mut()
            .expect("set above")
            .compress(&nar)
            .map_err(|e| CacheError::io("zstd", e))
    })?;
    bytes.commit();
    Ok(CompressedNar {
        file_hash: Sha256::digest(&compressed),
        bytes: compressed,
    })
}

/// Streams a verified, zstd-compressed NAR into `out`; returns the writer,
/// the compressed file's hash and size. Uses several zstd workers for big paths.
pub fn compress_streaming<W: Write>(
    store: &LocalStore,
    info: &PathInfo,
    out: W,
    bytes: AttemptBytes,
) -> Result<(W, Sha256, u64), CacheError> {
    let zstd_err = |e| CacheError::io("zstd", e);
    let hashed = HashingWriter::new(out);
    let mut enc = zstd::stream::Encoder::new(hashed, ZSTD_LEVEL).map_err(zstd_err)?;
    enc.set_pledged_src_size(Some(info.nar_size))
        .map_err(zstd_err)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    if workers > 1 {
        enc.multithread(workers).map_err(zstd_err)?;
    }
    let counting = CountingWriter { inner: enc, bytes };
    let counting = store.dump_verified(
        info,
        std::io::BufWriter::with_capacity(256 * 1024, counting),
    )?;
    let counting = counting
        .into_inner()
        .map_err(|e| zstd_err(e.into_error()))?;
    counting.bytes.commit();
    let hashed = counting.inner.finish().map_err(zstd_err)?;
    let (out, file_hash, file_size) = hashed.finish();
    Ok((out, file_hash, file_size))
}

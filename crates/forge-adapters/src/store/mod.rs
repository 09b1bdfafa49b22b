//! The local Nix store: reading NARs from disk and path metadata from Nix's
//! database. Writing to the store is left to Nix.

pub mod db;
pub mod hashing_writer;
pub mod nar;

use std::io::{self, Write};
use std::path::PathBuf;

use forge_core::nix::hash::Sha256;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::store_path::{StorePath, DEFAULT_STORE_DIR};

pub use hashing_writer::HashingWriter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading {path} from the store: {source}")]
    Read { path: StorePath, source: io::Error },
    #[error(
        "NAR hash mismatch for {path}: the store records {expected} ({expected_size} bytes) but its \
         contents hash to {actual} ({actual_size} bytes); the store is corrupt, run `nix-store --verify --check-contents --repair`"
    )]
    HashMismatch {
        path: StorePath,
        expected: Sha256,
        actual: Sha256,
        expected_size: u64,
        actual_size: u64,
    },
}

/// A local store whose files can be read directly.
#[derive(Debug, Clone)]
pub struct LocalStore {
    /// The logical store directory paths are named under (`/nix/store`).
    pub store_dir: String,
    /// Where that directory really is (differs for chroot stores).
    pub real_store_dir: PathBuf,
    /// Nix's SQLite database.
    pub db_path: PathBuf,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self {
            store_dir: DEFAULT_STORE_DIR.into(),
            real_store_dir: PathBuf::from(DEFAULT_STORE_DIR),
            db_path: PathBuf::from("/nix/var/nix/db/db.sqlite"),
        }
    }
}

impl LocalStore {
    /// A chroot store as `nix --store /some/root` makes it.
    pub fn chroot(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            store_dir: DEFAULT_STORE_DIR.into(),
            real_store_dir: root.join("nix/store"),
            db_path: root.join("nix/var/nix/db/db.sqlite"),
        }
    }

    pub fn real_path(&self, path: &StorePath) -> PathBuf {
        self.real_store_dir.join(path.base_name())
    }

    /// Streams the NAR of `info.path` into `out` and checks it against the
    /// hash and size the store recorded. On a mismatch the caller must discard
    /// what it received.
    pub fn dump_verified<W: Write>(&self, info: &PathInfo, out: W) -> Result<W, StoreError> {
        let read_err = |source| StoreError::Read {
            path: info.path.clone(),
            source,
        };
        let mut hashing = HashingWriter::new(out);
        nar::write_nar(&self.real_path(&info.path), &mut hashing).map_err(read_err)?;
        let (out, actual, actual_size) = hashing.finish();
        if actual != info.nar_hash || actual_size != info.nar_size {
            return Err(StoreError::HashMismatch {
                path: info.path.clone(),
                expected: info.nar_hash,
                actual,
                expected_size: info.nar_size,
                actual_size,
            });
        }
        Ok(out)
    }
}

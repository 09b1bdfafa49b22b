//! Compressed layers cached on disk by content: the key is the layer's store
//! paths with their NAR hashes and the compression, so a rebuild compresses
//! only layers whose paths changed.

use std::fs;
use std::path::PathBuf;

use super::layer_tar::{LayerBlob, LayerCompression};
use forge_core::nix::hash::Sha256;
use forge_core::nix::path_info::PathInfo;
use forge_io::atomic_file::{self, FileMode};

pub struct LayerCache {
    root: PathBuf,
}

impl LayerCache {
    /// `$FORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/forge`, else `~/.cache/forge`.
    pub fn default_dir() -> PathBuf {
        forge_io::cache_dir::forge_cache_dir()
    }

    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into().join("oci"),
        }
    }

    /// Where layer blobs are written (`<dir>/sha256/<hex>`).
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs_dir()
            .join("sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    pub fn key_for_paths(paths: &[&PathInfo], compression: LayerCompression) -> String {
        let mut text = format!("forge-layer-v1\n{compression:?}\n");
        let mut sorted: Vec<&&PathInfo> = paths.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        for p in sorted {
            text.push_str(&format!("{} {}\n", p.path, p.nar_hash.to_nix32_typed()));
        }
        hex::encode(Sha256::digest(text.as_bytes()).as_bytes())
    }

    pub fn key_for_base(compression: LayerCompression) -> String {
        hex::encode(
            Sha256::digest(format!("forge-base-v1\n{compression:?}\n").as_bytes()).as_bytes(),
        )
    }

    /// The cached layer, if its blob is still there with the recorded size.
    pub fn get(&self, key: &str) -> Option<LayerBlob> {
        let text = fs::read(self.root.join("layers").join(format!("{key}.json"))).ok()?;
        let blob: LayerBlob = serde_json::from_slice(&text).ok()?;
        let size = fs::metadata(self.blob_path(&blob.digest)).ok()?.len();
        (size == blob.size).then_some(blob)
    }

    pub fn put(&self, key: &str, blob: &LayerBlob) {
        let dir = self.root.join("layers");
        // A cache that cannot be written only costs time later.
        if fs::create_dir_all(&dir).is_ok() {
            let _ = atomic_file::write(
                &dir.join(format!("{key}.json")),
                &serde_json::to_vec(blob).expect("serialises"),
                FileMode::Shared,
            );
        }
    }
}

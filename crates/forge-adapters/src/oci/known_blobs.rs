//! Which repositories of a registry we have pushed each blob to, so a push to
//! a new repository can ask for a cross-repository mount instead of uploading.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use forge_io::atomic_file::{self, FileMode};

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct KnownBlobs {
    #[serde(flatten)]
    registries: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl KnownBlobs {
    /// Loads `<cache>/oci/known-blobs.json`; a missing or damaged file is an empty record.
    pub fn load(cache_root: &std::path::Path) -> Self {
        let path = cache_root.join("oci/known-blobs.json");
        let mut k: KnownBlobs = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        k.path = Some(path);
        k
    }

    /// A repository (other than `except`) of `registry` known to have `digest`.
    pub fn source_for(&self, registry: &str, digest: &str, except: &str) -> Option<String> {
        self.registries
            .get(registry)?
            .get(digest)?
            .iter()
            .find(|r| *r != except)
            .cloned()
    }

    pub fn record(&mut self, registry: &str, repo: &str, digest: &str) {
        self.registries
            .entry(registry.into())
            .or_default()
            .entry(digest.into())
            .or_default()
            .insert(repo.into());
    }

    pub fn save(&self) {
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            // Losing this record only costs a mount later.
            let _ = atomic_file::write(
                path,
                &serde_json::to_vec(self).expect("serialises"),
                FileMode::Shared,
            );
        }
    }
}

//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/`),
//! written so that skopeo, umoci and podman read them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use forge_core::oci::descriptor::{self, Descriptor, Index, Manifest, INDEX, MANIFEST, REF_NAME};
use forge_io::atomic_file::{self, FileMode};

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is not an OCI image layout (no oci-layout file or index.json)")]
    NotALayout(PathBuf),
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{dir} has no image tagged {name:?} (it has: {available})")]
    NoSuchRef {
        dir: PathBuf,
        name: String,
        available: String,
    },
    #[error("{dir} holds {count} images; name one with oci:{dir}:<tag>")]
    Ambiguous { dir: PathBuf, count: usize },
    #[error("blob {digest} is missing from {dir}")]
    MissingBlob { dir: PathBuf, digest: String },
    #[error("blob {digest} in {dir} does not match its digest (corrupt layout)")]
    CorruptBlob { dir: PathBuf, digest: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_owned(),
        source,
    }
}

pub struct OciLayout {
    pub dir: PathBuf,
}

impl OciLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join("blobs/sha256").join(hex)
    }

    /// Creates the directory structure (keeping existing blobs).
    pub fn init(&self) -> Result<(), LayoutError> {
        let blobs = self.dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let marker = self.dir.join("oci-layout");
        atomic_file::write(
            &marker,
            br#"{"imageLayoutVersion":"1.0.0"}"#,
            FileMode::Shared,
        )
        .map_err(|e| LayoutError::Io {
            path: marker.clone(),
            source: e,
        })
    }

    /// Stores a small blob (config, manifest) and describes it.
    pub fn put_json_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, LayoutError> {
        let d = descriptor::describe(media_type, bytes);
        let path = self.blob_path(&d.digest);
        if !path.exists() {
            atomic_file::write(&path, bytes, FileMode::Shared).map_err(|e| LayoutError::Io {
                path: path.clone(),
                source: e,
            })?;
        }
        Ok(d)
    }

    /// Makes `src` (a blob in another directory, e.g. the layer cache) part of
    /// this layout: a hard link when possible, else a copy.
    pub fn link_blob(&self, src: &Path, digest: &str) -> Result<(), LayoutError> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        if fs::hard_link(src, &dest).is_err() {
            let dir = dest.parent().unwrap_or(Path::new("."));
            let mut tmp = atomic_file::temp_in(dir).map_err(io_err(&dest))?;
            let mut from = fs::File::open(src).map_err(io_err(src))?;
            std::io::copy(&mut from, tmp.as_file_mut()).map_err(io_err(&dest))?;
            atomic_file::publish(tmp, &dest).map_err(io_err(&dest))?;
        }
        Ok(())
    }

    pub fn read_index(&self) -> Result<Index, LayoutError> {
        let path = self.dir.join("index.json");
        if !path.exists() || !self.dir.join("oci-layout").exists() {
            return Err(LayoutError::NotALayout(self.dir.clone()));
        }
        let text = fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&text).map_err(|source| LayoutError::Json { path, source })
    }

    /// Adds (or replaces) the image tagged `name` in `index.json`, written last.
    pub fn tag(&self, manifest: Descriptor, name: &str) -> Result<(), LayoutError> {
        let mut index = self.read_index().unwrap_or_else(|_| Index::new(vec![]));
        index
            .manifests
            .retain(|m| m.annotations.get(REF_NAME).map(String::as_str) != Some(name));
        let mut d = manifest;
        d.annotations.insert(REF_NAME.into(), name.into());
        index.manifests.push(d);
        index.manifests.sort_by(|a, b| {
            a.annotations
                .get(REF_NAME)
                .cmp(&b.annotations.get(REF_NAME))
        });
        let path = self.dir.join("index.json");
        atomic_file::write(&path, &index.to_bytes(), FileMode::Shared).map_err(|e| {
            LayoutError::Io {
                path: path.clone(),
                source: e,
            }
        })
    }

    /// The manifest descriptor tagged `name`, or the only one when `name` is None.
    pub fn resolve(&self, name: Option<&str>) -> Result<Descriptor, LayoutError> {
        let index = self.read_index()?;
        let images: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|m| {
                m.media_type == MANIFEST
                    || m.media_type == INDEX
                    || m.media_type == descriptor::DOCKER_MANIFEST
            })
            .collect();
        match name {
            Some(n) => images
                .iter()
                .find(|m| m.annotations.get(REF_NAME).map(String::as_str) == Some(n))
                .map(|d| (*d).clone())
                .ok_or_else(|| LayoutError::NoSuchRef {
                    dir: self.dir.clone(),
                    name: n.into(),
                    available: images
                        .iter()
                        .filter_map(|m| m.annotations.get(REF_NAME).cloned())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None if images.len() == 1 => Ok(images[0].clone()),
            None => Err(LayoutError::Ambiguous {
                dir: self.dir.clone(),
                count: images.len(),
            }),
        }
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|_| LayoutError::MissingBlob {
            dir: self.dir.clone(),
            digest: digest.into(),
        })?;
        if descriptor::digest_of(&bytes) != digest {
            return Err(LayoutError::CorruptBlob {
                dir: self.dir.clone(),
                digest: digest.into(),
            });
        }
        Ok(bytes)
    }

    pub fn read_manifest(&self, d: &Descriptor) -> Result<Manifest, LayoutError> {
        let bytes = self.read_blob(&d.digest)?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::Json {
            path: self.blob_path(&d.digest),
            source,
        })
    }
}

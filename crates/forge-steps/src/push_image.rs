//! Pushes an image from a layout to a registry: every blob first (present,
//! mounted from a sibling repository, or uploaded), then the manifest by
//! digest, and only then the tags, so a tag never names an incomplete image.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::StreamExt as _;

use crate::observer::{Event, Observer};
use forge_adapters::oci::known_blobs::KnownBlobs;
use forge_adapters::oci::layout::{LayoutError, OciLayout};
use forge_adapters::registry::{MountOutcome, RegistryClient, RegistryError};
use forge_core::oci::descriptor::{Descriptor, Index, Platform, INDEX};
use forge_core::oci::tag_scheme::{validate_tag, TagError};

#[derive(Debug, thiserror::Error)]
pub enum PushImageError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("{0:?} is not a repository: expected REGISTRY/REPO without tag or digest (tags go in --tag)")]
    BadRepository(String),
    #[error("two images for the platform {0}: an index needs one image per platform")]
    DuplicatePlatform(String),
    #[error("the registry stored the manifest as {got}, not {expected}; refusing to tag it")]
    DigestMismatch { expected: String, got: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    pub registry: String,
    pub repository: String,
}

impl ImageTarget {
    /// `127.0.0.1:5000/team/app`, `ghcr.io/org/app`, `app` (Docker Hub).
    pub fn parse(text: &str) -> Result<Self, PushImageError> {
        let bad = || PushImageError::BadRepository(text.to_owned());
        let r: oci_client::Reference = text.parse().map_err(|_| bad())?;
        let last = text.rsplit('/').next().unwrap_or(text);
        if r.digest().is_some() || last.contains(':') {
            return Err(bad());
        }
        Ok(Self {
            registry: r.resolve_registry().to_owned(),
            repository: r.repository().to_owned(),
        })
    }

    pub fn display(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobStatus {
    Uploaded,
    Mounted,
    Present,
}

#[derive(Debug, serde::Serialize)]
pub struct BlobPush {
    pub digest: String,
    pub size: u64,
    pub status: BlobStatus,
}

#[derive(Debug, serde::Serialize)]
pub struct PushImageReport {
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub blobs: Vec<BlobPush>,
    pub bytes_uploaded: u64,
    pub image_bytes: u64,
}

impl PushImageReport {
    pub fn blobs_with(&self, status: BlobStatus) -> usize {
        self.blobs.iter().filter(|b| b.status == status).count()
    }
}

/// Where blobs go and how: the registry, the repository, transfers at once,
/// a counter of bytes sent and the observer told of each blob done (for a
/// progress display).
#[derive(Clone, Copy)]
pub struct Upload<'a> {
    pub client: &'a RegistryClient,
    pub target: &'a ImageTarget,
    pub jobs: usize,
    pub progress: &'a Arc<AtomicU64>,
    pub observer: &'a dyn Observer,
}

pub async fn push_image(
    to: Upload<'_>,
    layout: &OciLayout,
    top: &Descriptor,
    tags: &[String],
    known: &mut KnownBlobs,
) -> Result<PushImageReport, PushImageError> {
    let Upload {
        client,
        target,
        jobs,
        progress,
        observer,
    } = to;
    for t in tags {
        validate_tag(t)?;
    }
    let repo = &target.repository;
    client.ping(repo).await?;

    // Manifests to push (children of an index first) and the blobs they need.
    let mut manifests: Vec<(Descriptor, Vec<u8>)> = Vec::new();
    let mut blobs: BTreeMap<String, u64> = BTreeMap::new();
    let children: Vec<Descriptor> = if top.media_type == INDEX {
        let index: Index =
            serde_json::from_slice(&layout.read_blob(&top.digest)?).map_err(|source| {
                LayoutError::Json {
                    path: layout.blob_path(&top.digest),
                    source,
                }
            })?;
        index.manifests
    } else {
        vec![top.clone()]
    };
    for child in &children {
        let m = layout.read_manifest(child)?;
        blobs.insert(m.config.digest.clone(), m.config.size);
        for l in &m.layers {
            blobs.insert(l.digest.clone(), l.size);
        }
        manifests.push((child.clone(), layout.read_blob(&child.digest)?));
    }
    if top.media_type == INDEX {
        manifests.push((top.clone(), layout.read_blob(&top.digest)?));
    }
    for digest in blobs.keys() {
        if !layout.blob_path(digest).exists() {
            return Err(LayoutError::MissingBlob {
                dir: layout.dir.clone(),
                digest: digest.clone(),
            }
            .into());
        }
    }

    let known_ref = &*known;
    let total = blobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let done = &done;
    let results: Vec<Result<BlobPush, PushImageError>> =
        futures::stream::iter(blobs.iter().map(|(digest, &size)| async move {
            let status = if client.blob_exists(repo, digest).await? {
                BlobStatus::Present
            } else if let Some(from) = known_ref.source_for(client.registry(), digest, repo) {
                match client.mount_blob(repo, &from, digest).await {
                    Ok(MountOutcome::Mounted) => BlobStatus::Mounted,
                    // A failed mount is only a missed shortcut.
                    _ => {
                        client
                            .upload_blob(repo, digest, &layout.blob_path(digest), size, progress)
                            .await?;
                        BlobStatus::Uploaded
                    }
                }
            } else {
                client
                    .upload_blob(repo, digest, &layout.blob_path(digest), size, progress)
                    .await?;
                BlobStatus::Uploaded
            };
            observer.event(Event::Counted {
                what: "blobs",
                done: done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                total,
            });
            Ok(BlobPush {
                digest: digest.clone(),
                size,
                status,
            })
        }))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut pushed = Vec::new();
    for r in results {
        pushed.push(r?);
    }
    pushed.sort_by(|a, b| a.digest.cmp(&b.digest));
    for b in &pushed {
        known.record(client.registry(), repo, &b.digest);
    }
    known.save();

    // Manifests by digest: complete images, not yet visible under any tag.
    for (d, bytes) in &manifests {
        let got = client
            .put_manifest(repo, &d.digest, &d.media_type, bytes)
            .await?;
        if let Some(got) = got {
            if got != d.digest {
                return Err(PushImageError::DigestMismatch {
                    expected: d.digest.clone(),
                    got,
                });
            }
        }
    }
    let (top_d, top_bytes) = manifests.last().expect("at least one manifest");
    for t in tags {
        client
            .put_manifest(repo, t, &top_d.media_type, top_bytes)
            .await?;
    }
    Ok(PushImageReport {
        repository: target.display(),
        digest: top.digest.clone(),
        tags: tags.to_vec(),
        bytes_uploaded: pushed
            .iter()
            .filter(|b| b.status == BlobStatus::Uploaded)
            .map(|b| b.size)
            .sum(),
        image_bytes: pushed.iter().map(|b| b.size).sum(),
        blobs: pushed,
    })
}

/// The platform an image in `layout` was built for, from its config blob.
pub fn image_platform(
    layout: &OciLayout,
    manifest: &Descriptor,
) -> Result<Platform, PushImageError> {
    let m = layout.read_manifest(manifest)?;
    let config: serde_json::Value = serde_json::from_slice(&layout.read_blob(&m.config.digest)?)
        .map_err(|source| LayoutError::Json {
            path: layout.blob_path(&m.config.digest),
            source,
        })?;
    Ok(Platform {
        architecture: config["architecture"]
            .as_str()
            .unwrap_or("amd64")
            .to_owned(),
        os: config["os"].as_str().unwrap_or("linux").to_owned(),
    })
}

#[derive(Debug, serde::Serialize)]
pub struct IndexReport {
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub images: Vec<PushImageReport>,
}

/// Pushes a multi-architecture index over images already pushed to `target`:
/// by digest first, then its tags.
/// The index over `images` (one per platform) and its digest: what
/// [`push_index`] pushes, so a dry run can name the digest a deploy will pin.
pub fn index_of(images: &[(Descriptor, Platform)]) -> Result<(Vec<u8>, String), PushImageError> {
    let mut seen = std::collections::BTreeSet::new();
    for (_, p) in images {
        if !seen.insert((p.os.clone(), p.architecture.clone())) {
            return Err(PushImageError::DuplicatePlatform(format!(
                "{}/{}",
                p.os, p.architecture
            )));
        }
    }
    let manifests = images
        .iter()
        .map(|(d, p)| Descriptor {
            platform: Some(p.clone()),
            annotations: Default::default(),
            ..d.clone()
        })
        .collect();
    let bytes = Index::new(manifests).to_bytes();
    let digest = forge_core::oci::descriptor::digest_of(&bytes);
    Ok((bytes, digest))
}

pub async fn push_index(
    client: &RegistryClient,
    target: &ImageTarget,
    images: Vec<(Descriptor, Platform, PushImageReport)>,
    tags: &[String],
) -> Result<IndexReport, PushImageError> {
    for t in tags {
        validate_tag(t)?;
    }
    let platforms: Vec<(Descriptor, Platform)> = images
        .iter()
        .map(|(d, p, _)| (d.clone(), p.clone()))
        .collect();
    let (bytes, digest) = index_of(&platforms)?;
    let repo = &target.repository;
    if let Some(got) = client.put_manifest(repo, &digest, INDEX, &bytes).await? {
        if got != digest {
            return Err(PushImageError::DigestMismatch {
                expected: digest,
                got,
            });
        }
    }
    for t in tags {
        client.put_manifest(repo, t, INDEX, &bytes).await?;
    }
    Ok(IndexReport {
        repository: target.display(),
        digest,
        tags: tags.to_vec(),
        images: images.into_iter().map(|(_, _, r)| r).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_parse() {
        let t = ImageTarget::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!(
            (t.registry.as_str(), t.repository.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        let t = ImageTarget::parse("app").unwrap();
        assert_eq!(t.repository, "library/app");
        assert!(ImageTarget::parse("127.0.0.1:5000/app:v1").is_err());
        assert!(ImageTarget::parse("127.0.0.1:5000/app@sha256:0000000000000000000000000000000000000000000000000000000000000000").is_err());
        assert!(ImageTarget::parse("127.0.0.1:5000/Upper").is_err());
    }

    #[test]
    fn the_index_lists_each_platform_once_in_order() {
        let image = |c: char, arch: &str| {
            (
                Descriptor {
                    media_type: forge_core::oci::descriptor::MANIFEST.to_owned(),
                    digest: format!("sha256:{}", c.to_string().repeat(64)),
                    size: 500,
                    platform: None,
                    annotations: [(
                        "org.opencontainers.image.ref.name".to_owned(),
                        "x".to_owned(),
                    )]
                    .into(),
                },
                Platform {
                    architecture: arch.to_owned(),
                    os: "linux".to_owned(),
                },
            )
        };
        let images = [image('a', "amd64"), image('b', "arm64")];
        let (bytes, digest) = index_of(&images).unwrap();
        assert_eq!(digest, forge_core::oci::descriptor::digest_of(&bytes));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let m = v["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["platform"]["architecture"], "amd64");
        assert_eq!(m[1]["digest"], images[1].0.digest.as_str());
        // Layout annotations (ref names) are not carried into the index.
        assert!(m[0].get("annotations").is_none(), "{v}");
        // Another order is another index.
        let swapped = [image('b', "arm64"), image('a', "amd64")];
        assert_ne!(index_of(&swapped).unwrap().1, digest);
        assert!(matches!(
            index_of(&[image('a', "amd64"), image('b', "amd64")]),
            Err(PushImageError::DuplicatePlatform(p)) if p == "linux/amd64"
        ));
    }
}

//! Importing a `docker-archive` tarball (what `dockerTools.buildImage` and
//! `docker save` write, optionally gzipped) into an OCI layout.

use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::layout::{LayoutError, OciLayout};
use crate::store::HashingWriter;
use forge_core::oci::descriptor::{self, Descriptor, Manifest, CONFIG, LAYER_TAR};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} is not a docker-archive (no manifest.json with Config and Layers)")]
    NotAnArchive(PathBuf),
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

#[derive(serde::Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Unpacks `archive` and adds its (first) image to `layout` under `tag`
/// (default: the archive's own tag, else `latest`). Returns the manifest.
pub fn import(
    archive: &Path,
    layout: &OciLayout,
    tag: Option<&str>,
) -> Result<(Descriptor, String), ArchiveError> {
    let io_err = |source| ArchiveError::Io {
        path: archive.to_owned(),
        source,
    };
    let work = tempfile::tempdir().map_err(io_err)?;
    let mut file = BufReader::new(fs::File::open(archive).map_err(io_err)?);
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic).map_err(io_err)?;
    let file = BufReader::new(fs::File::open(archive).map_err(io_err)?);
    let reader: Box<dyn Read> = if magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    tar::Archive::new(reader)
        .unpack(work.path())
        .map_err(io_err)?;

    let manifest_path = work.path().join("manifest.json");
    let entries: Vec<ArchiveEntry> = fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ArchiveError::NotAnArchive(archive.to_owned()))?;
    let entry = entries
        .into_iter()
        .next()
        .ok_or_else(|| ArchiveError::NotAnArchive(archive.to_owned()))?;

    layout.init()?;
    let config = fs::read(work.path().join(&entry.config)).map_err(io_err)?;
    let config_d = layout.put_json_blob(CONFIG, &config)?;
    let mut layers = Vec::new();
    for rel in &entry.layers {
        // Layers in a docker-archive are plain tars; they keep that media type.
        let src = work.path().join(rel);
        let mut hashing = HashingWriter::new(io::sink());
        io::copy(&mut fs::File::open(&src).map_err(io_err)?, &mut hashing).map_err(io_err)?;
        let (_, digest, size) = hashing.finish();
        let digest = format!("sha256:{}", hex::encode(digest.as_bytes()));
        layout.link_blob(&src, &digest)?;
        layers.push(Descriptor {
            media_type: LAYER_TAR.into(),
            digest,
            size,
            platform: None,
            annotations: Default::default(),
        });
    }
    let manifest = Manifest::new(config_d, layers);
    let bytes = manifest.to_bytes();
    let d = layout.put_json_blob(descriptor::MANIFEST, &bytes)?;
    let name = tag
        .map(str::to_owned)
        .or_else(|| {
            entry.repo_tags.and_then(|t| {
                t.first()
                    .and_then(|t| t.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
            })
        })
        .unwrap_or_else(|| "latest".into());
    layout.tag(d.clone(), &name)?;
    Ok((d, name))
}

//! Deterministic layer tarballs from store paths: sorted entries, mtime 1,
//! uid/gid 0 (root), no xattrs, modes as the store has them; compressed with
//! fixed parameters, so the same paths always give the same digest.

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::store::{HashingWriter, LocalStore};
use forge_core::nix::store_path::StorePath;
use forge_core::oci::descriptor::{LAYER_GZIP, LAYER_TAR, LAYER_ZSTD};

const MTIME: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerCompression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl forge_core::choice::Choice for LayerCompression {
    const ALL: &'static [Self] = &[Self::Gzip, Self::Zstd, Self::None];
    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::None => "none",
        }
    }
}

impl LayerCompression {
    pub fn media_type(self) -> &'static str {
        match self {
            LayerCompression::Gzip => LAYER_GZIP,
            LayerCompression::Zstd => LAYER_ZSTD,
            LayerCompression::None => LAYER_TAR,
        }
    }
}

/// A finished layer blob.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerBlob {
    /// Digest of the compressed blob (what the manifest lists).
    pub digest: String,
    /// Digest of the uncompressed tar (what the config's rootfs lists).
    pub diff_id: String,
    pub size: u64,
    pub media_type: String,
}

/// What goes into one layer.
pub enum LayerContent<'a> {
    StorePaths(&'a [StorePath]),
    /// `/tmp` (1777) and `/etc`, which most programs expect to exist.
    BaseDirectories,
}

/// Writes the layer into `dir` as `sha256/<hex>` (temp file, then rename).
pub fn write_layer(
    store: &LocalStore,
    content: LayerContent<'_>,
    compression: LayerCompression,
    dir: &Path,
) -> io::Result<LayerBlob> {
    fs::create_dir_all(dir.join("sha256"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".forge-layer-")
        .tempfile_in(dir)?;
    let file_hash = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp));
    let (file_hash, diff_id) = match compression {
        LayerCompression::Gzip => {
            let enc = flate2::write::GzEncoder::new(file_hash, flate2::Compression::new(6));
            let (enc, diff_id) = write_tar(store, &content, enc)?;
            (enc.finish()?, diff_id)
        }
        LayerCompression::Zstd => {
            let enc = zstd::stream::Encoder::new(file_hash, 3)?;
            let (enc, diff_id) = write_tar(store, &content, enc)?;
            (enc.finish()?, diff_id)
        }
        LayerCompression::None => write_tar(store, &content, file_hash)?,
    };
    let (buf, digest, size) = file_hash.finish();
    let tmp = buf.into_inner().map_err(|e| e.into_error())?;
    let hex = hex::encode(digest.as_bytes());
    // Shared: layouts hard-link these blobs, and others read layouts.
    forge_io::atomic_file::publish(tmp, &dir.join("sha256").join(&hex))?;
    Ok(LayerBlob {
        digest: format!("sha256:{hex}"),
        diff_id,
        size,
        media_type: compression.media_type().into(),
    })
}

/// Writes the tar into `out`; returns `out` and the tar's `sha256:<hex>`.
fn write_tar<W: Write>(
    store: &LocalStore,
    content: &LayerContent<'_>,
    out: W,
) -> io::Result<(W, String)> {
    let mut builder = tar::Builder::new(HashingWriter::new(out));
    builder.follow_symlinks(false);
    match content {
        LayerContent::BaseDirectories => {
            dir_entry(&mut builder, "etc/", 0o755)?;
            dir_entry(&mut builder, "tmp/", 0o1777)?;
        }
        LayerContent::StorePaths(paths) => {
            dir_entry(&mut builder, "nix/", 0o755)?;
            dir_entry(&mut builder, "nix/store/", 0o755)?;
            let mut sorted: Vec<&StorePath> = paths.iter().collect();
            sorted.sort_by(|a, b| a.base_name().cmp(b.base_name()));
            for p in sorted {
                let rel = PathBuf::from("nix/store").join(p.base_name());
                walk(&mut builder, &store.real_path(p), &rel)?;
            }
        }
    }
    let hashing = builder.into_inner()?;
    let (out, diff, _) = hashing.finish();
    Ok((out, format!("sha256:{}", hex::encode(diff.as_bytes()))))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

fn dir_entry<W: Write>(b: &mut tar::Builder<W>, path: &str, mode: u32) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, mode, 0);
    b.append_data(&mut h, path, io::empty())
}

fn walk<W: Write>(b: &mut tar::Builder<W>, real: &Path, rel: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(real)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", real.display())))?;
    let mode = meta.permissions().mode() & 0o7777;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(real)?;
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, rel, &target)
    } else if ft.is_file() {
        let mut h = header(tar::EntryType::Regular, mode, meta.len());
        b.append_data(&mut h, rel, fs::File::open(real)?)
    } else if ft.is_dir() {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, rel, io::empty())?;
        let mut names: Vec<_> = fs::read_dir(real)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        for name in names {
            walk(b, &real.join(&name), &rel.join(&name))?;
        }
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unsupported file type", real.display()),
        ))
    }
}

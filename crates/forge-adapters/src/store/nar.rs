//! NAR serialisation straight from the file system, as `nix-store --dump` does.
//!
//! Format: every token is a little-endian u64 length, the bytes, and zero
//! padding to 8; directories list entries sorted by name; only the executable
//! bit survives.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

const COPY_BUFFER: usize = 256 * 1024;

/// Writes the NAR of `path` (file, directory or symlink) to `out`.
pub fn write_nar(path: &Path, out: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    token(out, b"nix-archive-1")?;
    node(path, out, &mut buf)
}

fn node(path: &Path, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| with_path(e, path))?;
    token(out, b"(")?;
    token(out, b"type")?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        token(out, b"symlink")?;
        token(out, b"target")?;
        let target = fs::read_link(path).map_err(|e| with_path(e, path))?;
        token(out, target.as_os_str().as_bytes())?;
    } else if ft.is_file() {
        token(out, b"regular")?;
        if meta.permissions().mode() & 0o100 != 0 {
            token(out, b"executable")?;
            token(out, b"")?;
        }
        token(out, b"contents")?;
        contents(path, meta.len(), out, buf)?;
    } else if ft.is_dir() {
        token(out, b"directory")?;
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(|e| with_path(e, path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| with_path(e, path))?;
        entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in entries {
            token(out, b"entry")?;
            token(out, b"(")?;
            token(out, b"name")?;
            token(out, name.as_bytes())?;
            token(out, b"node")?;
            node(&path.join(&name), out, buf)?;
            token(out, b")")?;
        }
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: not a regular file, directory or symlink",
                path.display()
            ),
        ));
    }
    token(out, b")")
}

fn contents(path: &Path, len: u64, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    out.write_all(&len.to_le_bytes())?;
    let mut file = File::open(path).map_err(|e| with_path(e, path))?;
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file
            .read(&mut buf[..want])
            .map_err(|e| with_path(e, path))?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being read", path.display()),
            ));
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    pad(out, len)
}

fn token(out: &mut impl Write, s: &[u8]) -> io::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s)?;
    pad(out, s.len() as u64)
}

fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (len % 8) as usize;
    if rem != 0 {
        out.write_all(&[0u8; 8][..8 - rem])?;
    }
    Ok(())
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_layout_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"hi").unwrap();
        let mut nar = Vec::new();
        write_nar(&f, &mut nar).unwrap();
        let mut expected = Vec::new();
        for t in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hi",
            b")",
        ] {
            token(&mut expected, t).unwrap();
        }
        assert_eq!(nar, expected);
    }
}

//! The one way Forge writes a file: readers see the old content or the new,
//! never half, and a crash leaves at most a `.forge-tmp-*` file beside it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Which permissions the written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Owner read/write only (0600): secrets, and what Forge writes for itself.
    Private,
    /// The permissions of the file being replaced (which must exist); a
    /// symlink is followed, so its target is replaced, not the link.
    KeepExisting,
}

/// Writes `bytes` to `path` (errors are plain I/O errors; callers name the path): a temporary file in the same folder, synced,
/// renamed over `path`, then the folder synced so the rename survives a crash
/// (where the file system allows syncing a folder).
pub fn write(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<()> {
    let (path, perms) = match mode {
        FileMode::Private => (path.to_path_buf(), None),
        FileMode::KeepExisting => {
            let path = fs::canonicalize(path)?;
            let perms = fs::metadata(&path)?.permissions();
            (path, Some(perms))
        }
    };
    let dir = folder_of(&path);
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())?;
    if let Some(perms) = perms {
        fs::set_permissions(tmp.path(), perms)?;
    }
    tmp.persist(&path).map_err(|e| e.error)?;
    sync_dir(&dir);
    Ok(())
}

/// The prefix of Forge's temporary files, so that stale ones can be recognised.
pub const TEMP_PREFIX: &str = ".forge-tmp-";

/// Makes a rename in `dir` durable; not all file systems allow syncing a folder.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn private_files_are_0600_and_replace_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"one", FileMode::Private).unwrap();
        write(&p, b"two", FileMode::Private).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn keep_existing_follows_symlinks_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write(&link, b"new", FileMode::KeepExisting).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn keep_existing_needs_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(&dir.path().join("missing"), b"x", FileMode::KeepExisting).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}

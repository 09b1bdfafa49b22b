//! The one way Forge writes a file: readers see the old content or the new,
//! never half, and a crash leaves at most a `.forge-tmp-*` file beside it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Which permissions the written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Owner read/write only (0600): secrets.
    Private,
    /// 0666 less the process's umask, as `cp`, Nix and web servers expect
    /// (0644 under the usual umask): caches and image layouts others serve.
    Shared,
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
        FileMode::Shared => (path.to_path_buf(), Some(shared_permissions())),
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

/// A temporary file in `dir` for a write that streams, to be [`publish`]ed.
pub fn temp_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
}

/// Gives a streamed temporary file [`FileMode::Shared`] permissions, syncs it
/// and renames it to `dest` (then syncs the folder).
pub fn publish(tmp: tempfile::NamedTempFile, dest: &Path) -> io::Result<()> {
    tmp.as_file().set_permissions(shared_permissions())?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    sync_dir(&folder_of(dest));
    Ok(())
}

/// Removes Forge's own temporary files in `dir` (by name) that nothing has
/// touched for `older_than`: what a killed run left behind. A file of a run
/// still going is younger than that and stays. Returns how many went.
pub fn remove_stale_temps(dir: &Path, older_than: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// 0666 less the umask. Read from /proc rather than with umask(2), which
/// would have to change the process-wide mask for a moment.
fn shared_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let umask = *UMASK.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    });
    fs::Permissions::from_mode(0o666 & !umask)
}

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
    fn shared_files_follow_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"x", FileMode::Shared).unwrap();
        // The umask as a shell started from here reports it.
        let out = std::process::Command::new("sh")
            .args(["-c", "umask"])
            .output()
            .unwrap();
        let umask = u32::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 8).unwrap();
        let expected = 0o666 & !umask;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            expected
        );
        let tmp = temp_in(dir.path()).unwrap();
        publish(tmp, &dir.path().join("g")).unwrap();
        assert_eq!(
            fs::metadata(dir.path().join("g"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            expected
        );
    }

    #[test]
    fn only_old_forge_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".forge-tmp-old");
        let fresh = dir.path().join(".forge-tmp-fresh");
        let other = dir.path().join(".other-tmp-old");
        for p in [&old, &fresh, &other] {
            fs::write(p, b"x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for p in [&old, &other] {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        let n = remove_stale_temps(dir.path(), std::time::Duration::from_secs(3600));
        assert_eq!(n, 1);
        assert!(!old.exists() && fresh.exists() && other.exists());
    }

    #[test]
    fn keep_existing_needs_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(&dir.path().join("missing"), b"x", FileMode::KeepExisting).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}

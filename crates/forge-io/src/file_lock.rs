//! An exclusive lock between processes that read, change and write back the
//! same file, so that concurrent edits queue instead of overwriting each
//! other. It is `flock(2)` on a sidecar file beside the edited one
//! (`.NAME.forge-lock`): the edited file is replaced by a rename
//! ([`crate::atomic_file`]), so a lock on the file itself would be on an
//! inode that is already gone for the next reader.
//!
//! The kernel drops the lock with its process, so a crash never leaves the
//! file locked. The sidecar is removed on release (while still locked, and a
//! waiter that then gets the lock on the removed file starts over), so no
//! `.forge-lock` files are left in a checkout.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held until dropped.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum FileLockError {
    #[error("{} is locked by another process (waited {} s for {}; the lock goes with the process that holds it)", .target.display(), .waited.as_secs_f32(), .path.display())]
    Timeout {
        target: PathBuf,
        path: PathBuf,
        waited: Duration,
    },
    #[error("locking {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FileLock {
    /// Takes the lock of `target` (a symlink's target, when it is one),
    /// waiting at most `wait` for another holder to let go.
    pub fn acquire(target: &Path, wait: Duration) -> Result<Self, FileLockError> {
        let path = lock_path(target);
        let io_error = |source| FileLockError::Io {
            path: path.clone(),
            source,
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_error)?;
            if try_lock(&file).map_err(io_error)? {
                if is_still_at(&file, &path).map_err(io_error)? {
                    return Ok(FileLock { path, _file: file });
                }
                // The holder before us removed it: our lock guards nothing.
                continue;
            }
            let waited = start.elapsed();
            if waited >= wait {
                return Err(FileLockError::Timeout {
                    target: target.to_path_buf(),
                    path,
                    waited,
                });
            }
            std::thread::sleep(pause.min(wait - waited));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The sidecar file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed before the descriptor closes, i.e. while still locked.
        let _ = fs::remove_file(&self.path);
    }
}

/// `.NAME.forge-lock` beside `target`, or beside its target when it is a
/// symlink (so that every path to one file shares one lock).
pub fn lock_path(target: &Path) -> PathBuf {
    let real = fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let name = real
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let lock = format!(".{name}.forge-lock");
    match real.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(lock),
        _ => PathBuf::from(lock),
    }
}

/// Whether `path` still names the file `file` has open.
fn is_still_at(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `false` when someone else holds it. (The
/// standard library's `File::try_lock` needs a newer Rust than Forge's.)
fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock takes a descriptor number, which `file` keeps open for
    // the duration of the call, and touches no memory of ours.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
        _ => Err(e),
    }
}

/// Blocks until this process holds an exclusive `flock` on `file`; closing
/// the file releases it (for a lock file a caller keeps open, like the
/// GitOps clone's).
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: as in `try_lock`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn a_second_holder_waits_then_times_out_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kustomization.yaml");
        fs::write(&target, "x").unwrap();
        let held = FileLock::acquire(&target, SHORT).unwrap();
        assert_eq!(
            held.path(),
            fs::canonicalize(dir.path())
                .unwrap()
                .join(".kustomization.yaml.forge-lock")
        );
        let start = Instant::now();
        let err = FileLock::acquire(&target, SHORT).unwrap_err();
        assert!(start.elapsed() >= SHORT);
        assert!(matches!(err, FileLockError::Timeout { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "{} is locked by another process",
                target.display()
            )),
            "{msg}"
        );
        drop(held);
        let again = FileLock::acquire(&target, SHORT).unwrap();
        drop(again);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the lock file is removed on release"
        );
    }

    #[test]
    fn a_symlink_shares_its_targets_lock() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("k.yaml");
        fs::write(&target, "x").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let _held = FileLock::acquire(&target, SHORT).unwrap();
        assert!(FileLock::acquire(&link, SHORT).is_err());
    }

    #[test]
    fn read_modify_write_under_the_lock_loses_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("counter");
        fs::write(&counter, "0").unwrap();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        let _lock = FileLock::acquire(&counter, Duration::from_secs(30)).unwrap();
                        let n: u32 = fs::read_to_string(&counter).unwrap().parse().unwrap();
                        std::thread::yield_now();
                        crate::atomic_file::write(
                            &counter,
                            (n + 1).to_string().as_bytes(),
                            crate::atomic_file::FileMode::KeepExisting,
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(fs::read_to_string(&counter).unwrap(), "160");
    }
}

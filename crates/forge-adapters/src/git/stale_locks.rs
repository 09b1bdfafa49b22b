//! Lock files a killed process left in the clone (`index.lock`,
//! `refs/heads/main.lock`, …). Whoever holds the clone's own file lock is
//! the only writer, so any such file is stale: without removing it every
//! later fetch or reset fails ("the index is locked") until someone does.

use std::path::Path;

/// Removes every `*.lock` file under `git_dir`; returns how many.
pub(super) fn remove_stale_locks(git_dir: &Path) -> usize {
    let mut removed = 0;
    let mut dirs = vec![git_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // Objects hold no lock files and are most of the tree.
            if kind.is_dir() && entry.file_name() != "objects" {
                dirs.push(path);
            } else if kind.is_file()
                && path.extension().is_some_and(|e| e == "lock")
                && std::fs::remove_file(&path).is_ok()
            {
                tracing::warn!(
                    "removed {}, left by a process that was stopped",
                    path.display()
                );
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_anywhere_but_objects_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path();
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::create_dir_all(git.join("objects/ab")).unwrap();
        for f in [
            "index.lock",
            "refs/heads/main.lock",
            "objects/ab/keep.lock",
            "HEAD",
        ] {
            std::fs::write(git.join(f), "").unwrap();
        }
        assert_eq!(remove_stale_locks(git), 2);
        assert!(!git.join("index.lock").exists());
        assert!(!git.join("refs/heads/main.lock").exists());
        assert!(git.join("HEAD").exists());
        assert!(git.join("objects/ab/keep.lock").exists());
    }
}

//! The branch tip after one fetch, and for each of several files its text
//! there and the commit that last changed it: what `forge status` reads,
//! for any number of services, with one fetch per remote.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Sort};

use super::{Error, GitRemote};

/// A commit as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    /// Unix seconds (the author time).
    pub time: i64,
    pub subject: String,
}

/// One file at the tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAtTip {
    pub text: String,
    /// The newest first-parent commit that changed it (the oldest one
    /// looked at when it did not change within the walk).
    pub last_change: CommitInfo,
    /// First-parent commits from the tip down to `last_change`, inclusive.
    pub since_change: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TipSnapshot {
    pub tip: CommitInfo,
    /// Path → the file, or why it cannot be read there.
    pub files: BTreeMap<String, Result<FileAtTip, String>>,
}

impl GitRemote {
    /// Fetches once, then reads `paths` at the tip, walking at most `depth`
    /// first-parent commits back to find where each last changed.
    pub fn tip_snapshot(&self, paths: &[String], depth: usize) -> Result<TipSnapshot, Error> {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        let tip = self.fetch_and_reset(&repo)?;
        let tip_commit = repo.find_commit(tip)?;
        let tip_tree = tip_commit.tree()?;
        let mut files = BTreeMap::new();
        // Path → (blob at the tip, commits so far); removed once found.
        let mut open: BTreeMap<&str, (Oid, Vec<String>)> = BTreeMap::new();
        for path in paths {
            match tip_tree.get_path(Path::new(path)) {
                Ok(entry) => {
                    open.insert(path, (entry.id(), Vec::new()));
                }
                Err(_) => {
                    files.insert(
                        path.clone(),
                        Err(Error::FileMissing {
                            path: path.clone(),
                            branch: self.branch.clone(),
                        }
                        .to_string()),
                    );
                }
            }
        }
        let mut walk = repo.revwalk()?;
        walk.push(tip)?;
        walk.simplify_first_parent()?;
        walk.set_sorting(Sort::TOPOLOGICAL)?;
        let mut previous: Option<git2::Commit<'_>> = None;
        for oid in walk.take(depth.max(1)) {
            if open.is_empty() {
                break;
            }
            let commit = repo.find_commit(oid?)?;
            let tree = commit.tree()?;
            let mut found = Vec::new();
            for (path, (blob, since)) in open.iter_mut() {
                let same = tree
                    .get_path(Path::new(path))
                    .is_ok_and(|e| e.id() == *blob);
                if same {
                    since.push(commit.id().to_string());
                } else {
                    found.push(*path);
                }
            }
            for path in found {
                let (_, since) = open.remove(path).expect("listed above");
                let changed_by = previous.as_ref().expect("the tip has the file");
                let file = self.at_tip(&repo, &tip_tree, path, changed_by, since);
                files.insert(path.to_owned(), file.map_err(|e| e.to_string()));
            }
            previous = Some(commit);
        }
        // The walk ended (the root, or `depth`): the oldest commit seen.
        for (path, (_, since)) in open {
            let oldest = previous.as_ref().expect("the walk saw the tip");
            let file = self.at_tip(&repo, &tip_tree, path, oldest, since);
            files.insert(path.to_owned(), file.map_err(|e| e.to_string()));
        }
        Ok(TipSnapshot {
            tip: info(&tip_commit),
            files,
        })
    }

    fn at_tip(
        &self,
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        path: &str,
        changed_by: &git2::Commit<'_>,
        since_change: Vec<String>,
    ) -> Result<FileAtTip, Error> {
        Ok(FileAtTip {
            text: self.blob_text(repo, tree, path)?,
            last_change: info(changed_by),
            since_change,
        })
    }
}

fn info(commit: &git2::Commit<'_>) -> CommitInfo {
    let author = commit.author();
    CommitInfo {
        id: commit.id().to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        time: author.when().seconds(),
        subject: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
    }
}

//! Reading the past of the GitOps branch: earlier versions of a file (where a
//! rollback finds the previous image) and commit ancestry (whether Flux
//! applied our commit or one built on it).

use git2::{Oid, Sort};

use super::{display_url, Error, GitRemote};

/// One version of a file: the commit that wrote it and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub commit: String,
    /// The commit's subject line.
    pub subject: String,
    pub text: String,
}

impl GitRemote {
    /// The versions of `path` on the branch, newest first: the tip's text,
    /// then the text before each first-parent commit that changed it, up to
    /// `limit` versions. Stops where the file did not exist.
    pub fn file_history(&self, path: &str, limit: usize) -> Result<Vec<FileVersion>, Error> {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        let tip = self.fetch_and_reset(&repo)?;
        let mut walk = repo.revwalk()?;
        walk.push(tip)?;
        walk.simplify_first_parent()?;
        walk.set_sorting(Sort::TOPOLOGICAL)?;
        let mut out: Vec<FileVersion> = Vec::new();
        let mut last_blob: Option<Oid> = None;
        for oid in walk {
            let commit = repo.find_commit(oid?)?;
            let Ok(entry) = commit.tree()?.get_path(std::path::Path::new(path)) else {
                break;
            };
            if last_blob == Some(entry.id()) {
                // Unchanged by this commit: the version it belongs to is older.
                if let Some(v) = out.last_mut() {
                    v.commit = commit.id().to_string();
                    v.subject = subject(&commit);
                }
                continue;
            }
            if out.len() == limit {
                break;
            }
            last_blob = Some(entry.id());
            out.push(FileVersion {
                commit: commit.id().to_string(),
                subject: subject(&commit),
                text: self.blob_text(&repo, &commit.tree()?, path)?,
            });
        }
        Ok(out)
    }

    /// Text of `path` at `rev` (a commit id or a unique prefix of one).
    pub fn file_at(&self, path: &str, rev: &str) -> Result<FileVersion, Error> {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        self.fetch_and_reset(&repo)?;
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|_| Error::UnknownRevision {
                url: display_url(&self.url),
                rev: rev.to_owned(),
            })?;
        let version = FileVersion {
            commit: commit.id().to_string(),
            subject: subject(&commit),
            text: self.blob_text(&repo, &commit.tree()?, path)?,
        };
        Ok(version)
    }

    /// Whether `commit` is `ancestor` or was built on it, after a fetch (the
    /// commit may be newer than our clone).
    pub fn is_descendant(&self, commit: &str, ancestor: &str) -> Result<bool, Error> {
        if commit == ancestor {
            return Ok(true);
        }
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        self.fetch_and_reset(&repo)?;
        let (Ok(c), Ok(a)) = (Oid::from_str(commit), Oid::from_str(ancestor)) else {
            return Ok(false);
        };
        Ok(repo.graph_descendant_of(c, a).unwrap_or(false))
    }
}

impl GitRemote {
    /// The newest first-parent commit on the branch (after a fetch) whose
    /// message has the trailer `name: value`, looking at most `depth`
    /// commits back: how a resumed release run learns that its pin landed.
    pub fn find_trailer(
        &self,
        name: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<String>, Error> {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        let tip = self.fetch_and_reset(&repo)?;
        let mut walk = repo.revwalk()?;
        walk.push(tip)?;
        walk.simplify_first_parent()?;
        let wanted = format!("{name}: {value}");
        for oid in walk.take(depth) {
            let commit = repo.find_commit(oid?)?;
            let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
            if message.lines().any(|l| l.trim_end() == wanted) {
                return Ok(Some(commit.id().to_string()));
            }
        }
        Ok(None)
    }
}

fn subject(commit: &git2::Commit<'_>) -> String {
    String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned()
}

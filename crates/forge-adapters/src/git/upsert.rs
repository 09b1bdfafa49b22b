//! Landing a file that may not exist yet (a host's first pin): the same
//! fetch, commit-on-the-tip and rebase-retry as `land_file_edit`, with the
//! edit told whether there was a file.

use std::path::Path;

use git2::{IndexEntry, IndexTime, Oid, Repository, ResetType, Signature};

use super::{display_url, CommitMessage, EditError, Error, GitRemote, LandOptions, Landed};

/// New files are ordinary, non-executable blobs.
const FILE_MODE: u32 = 0o100644;

impl GitRemote {
    /// Text of `path` at the remote branch tip, `None` when it is not there.
    pub fn read_file_if_present(&self, path: &str) -> Result<Option<String>, Error> {
        match self.read_file(path) {
            Ok(t) => Ok(Some(t)),
            Err(Error::FileMissing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`GitRemote::land_file_edit`], but `edit` gets `None` when the
    /// file is missing at the tip, and may create it.
    pub fn land_file_upsert<F>(
        &self,
        path: &str,
        edit: F,
        message: &CommitMessage,
        opts: &LandOptions,
    ) -> Result<Landed, Error>
    where
        F: Fn(Option<&str>) -> Result<Option<String>, EditError>,
    {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        let _remote_lock = self.lock_local_remote()?;
        let max = opts.max_attempts.max(1);
        let mut last_reason = String::new();
        for attempt in 1..=max {
            if attempt > 1 {
                std::thread::sleep(opts.retry_policy().delay_before(attempt));
            }
            let tip = self.fetch_and_reset(&repo)?;
            let Some(commit) = self.commit_upsert(&repo, tip, path, &edit, message)? else {
                return Ok(Landed {
                    commit: None,
                    base: tip.to_string(),
                    attempts: attempt,
                });
            };
            match self.push(&repo, commit)? {
                None => {
                    let obj = repo.find_object(commit, None)?;
                    repo.reset(&obj, ResetType::Hard, None)?;
                    return Ok(Landed {
                        commit: Some(commit.to_string()),
                        base: tip.to_string(),
                        attempts: attempt,
                    });
                }
                Some(reason) => last_reason = reason,
            }
        }
        Err(Error::PushRejected {
            url: display_url(&self.url),
            attempts: max,
            reason: last_reason,
        })
    }

    fn commit_upsert<F>(
        &self,
        repo: &Repository,
        tip: Oid,
        path: &str,
        edit: &F,
        message: &CommitMessage,
    ) -> Result<Option<Oid>, Error>
    where
        F: Fn(Option<&str>) -> Result<Option<String>, EditError>,
    {
        let parent = repo.find_commit(tip)?;
        let tree = parent.tree()?;
        let (old, mode) = match tree.get_path(Path::new(path)) {
            Ok(entry) => (
                Some(self.blob_text(repo, &tree, path)?),
                entry.filemode() as u32,
            ),
            Err(_) => (None, FILE_MODE),
        };
        let new = match edit(old.as_deref()) {
            Ok(Some(new)) if Some(new.as_str()) != old.as_deref() => new,
            Ok(_) => return Ok(None),
            Err(source) => {
                return Err(Error::Edit {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut index = repo.index()?;
        index.read_tree(&tree)?;
        let entry = IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode,
            uid: 0,
            gid: 0,
            file_size: new.len() as u32,
            id: Oid::ZERO_SHA1,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add_frombuffer(&entry, new.as_bytes())?;
        let new_tree = repo.find_tree(index.write_tree()?)?;
        let sig = Signature::now(&self.author_name, &self.author_email)?;
        let text = message.render();
        let oid = match &self.signing_key {
            None => repo.commit(None, &sig, &sig, &text, &new_tree, &[&parent])?,
            Some(key) => {
                let buffer = repo.commit_create_buffer(&sig, &sig, &text, &new_tree, &[&parent])?;
                let content = std::str::from_utf8(&buffer).map_err(|_| Error::NotText {
                    path: "commit message".to_owned(),
                })?;
                repo.commit_signed(content, &key.sign("git", &buffer), Some("gpgsig"))?
            }
        };
        repo.reference(
            &format!("refs/heads/{}", self.branch),
            oid,
            true,
            "forge: commit",
        )?;
        Ok(Some(oid))
    }
}

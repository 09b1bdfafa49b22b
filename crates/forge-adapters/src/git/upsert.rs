//! Landing a file that may not exist yet (a host's first pin): the same
//! fetch, commit-on-the-tip and rebase-retry as `land_file_edit`, with the
//! edit told whether there was a file.

use std::path::Path;

use git2::{Oid, Repository};

use super::{CommitMessage, EditError, Error, GitRemote, LandOptions, Landed};

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
        self.land_with(opts, |repo, tip| {
            self.commit_upsert(repo, tip, path, &edit, message)
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
        self.commit_file(repo, &parent, path, mode, &new, message)
            .map(Some)
    }
}

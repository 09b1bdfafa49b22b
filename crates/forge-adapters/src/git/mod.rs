//! The GitOps repository, through libgit2 (no `git` process).
//!
//! One clone per remote URL lives in a cache directory and is fetched before
//! every attempt. The clone is ours: before each attempt the local branch and
//! work tree are hard-reset to the remote branch tip, so local edits or a
//! diverged local branch are discarded (with a warning), never committed. The
//! commit itself is built from the fetched tip's tree plus the one edited
//! file, so nothing else from the work tree can end up in it.
//!
//! A push the server refuses is detected from the per-ref push status (libgit2
//! returns `Ok` in that case); we then fetch, re-run the edit on the new tip
//! and push again, a bounded number of times.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::{
    Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, IndexEntry, IndexTime, Oid,
    PushOptions, RemoteCallbacks, Repository, ResetType, Signature,
};
use sha2::Digest as _;

use forge_core::gitops::ssh_signature::SshSigningKey;
use forge_core::secret::Secret;

mod history;
mod stale_locks;
mod tip;
mod upsert;
pub use history::FileVersion;
pub use tip::{CommitInfo, FileAtTip, TipSnapshot};

/// How to authenticate to the remote.
#[derive(Debug, Clone)]
pub enum GitAuth {
    /// SSH agent for SSH URLs; no credentials otherwise.
    Default,
    /// HTTPS token, sent as basic auth with user `x-access-token`.
    Token(Secret),
    /// SSH private key file (no passphrase).
    SshKeyFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct GitRemote {
    pub url: String,
    pub branch: String,
    pub auth: GitAuth,
    pub author_name: String,
    pub author_email: String,
    /// The clone; `None` means `default_clone_dir(url)`.
    pub clone_dir: Option<PathBuf>,
    /// Signs commits (SSH signature, as `gpg.format=ssh`) when set.
    pub signing_key: Option<std::sync::Arc<SshSigningKey>>,
}

/// A commit message: subject, optional body, then trailers.
#[derive(Debug, Clone, Default)]
pub struct CommitMessage {
    pub subject: String,
    pub body: Option<String>,
    pub trailers: Vec<(String, String)>,
}

impl CommitMessage {
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.subject.trim());
        if let Some(body) = self.body.as_deref().filter(|b| !b.trim().is_empty()) {
            out.push('\n');
            out.push_str(body.trim());
            out.push('\n');
        }
        if !self.trailers.is_empty() {
            out.push('\n');
            for (k, v) in &self.trailers {
                // A trailer value is one line.
                out.push_str(&format!("{k}: {}\n", v.replace(['\n', '\r'], " ")));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LandOptions {
    /// Push attempts in total (each after a fresh fetch and re-applied edit).
    pub max_attempts: usize,
    /// Base of the jittered exponential delay between attempts.
    pub backoff: Duration,
}

impl LandOptions {
    /// The shared retry policy's delays, capped at 3 s (a push race is short).
    fn retry_policy(&self) -> forge_io::retry::RetryPolicy {
        forge_io::retry::RetryPolicy {
            attempts: self.max_attempts,
            min_delay: self.backoff,
            max_delay: Duration::from_secs(3),
        }
    }
}

impl Default for LandOptions {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The pushed commit, or `None` when the edit changed nothing.
    pub commit: Option<String>,
    /// The remote tip the final attempt started from.
    pub base: String,
    /// Attempts made (1 when the first push went through).
    pub attempts: usize,
}

pub type EditError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("git clone directory {dir}: {message}")]
    CloneDir { dir: PathBuf, message: String },
    // libgit2's message only: its Display repeats it with class and code.
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the TLS certificate of {url} is not trusted ({message}); point SSL_CERT_FILE at a CA bundle that has its issuer")]
    Certificate { url: String, message: String },
    #[error("the remote {url} refused the credentials ({what}); check gitops.auth")]
    AuthRejected { url: String, what: &'static str },
    #[error("the remote {url} asks for credentials ({allowed}) and none are configured for that; set gitops.auth")]
    NoCredentials { url: String, allowed: String },
    /// libgit2 checks SSH host keys against `$HOME/.ssh/known_hosts` only
    /// (no callback is set): an unknown and a changed key look the same.
    #[error("cannot verify the SSH host key of {url}: the host is not in ~/.ssh/known_hosts or its key there differs; check the server's fingerprint, then add it to ~/.ssh/known_hosts (the entry is `[host]:port` for a port other than 22)")]
    UnknownHostKey { url: String },
    #[error("cannot read the git token: {0}")]
    Token(String),
    #[error("cannot read the SSH key file {path} (gitops.auth.ssh_key_file): {message}")]
    SshKeyFile { path: PathBuf, message: String },
    #[error("branch `{branch}` does not exist on {url}")]
    BranchMissing { url: String, branch: String },
    #[error("`{path}` does not exist on branch `{branch}`")]
    FileMissing { path: String, branch: String },
    #[error("no commit `{rev}` in {url}")]
    UnknownRevision { url: String, rev: String },
    #[error("`{path}` is not UTF-8 text")]
    NotText { path: String },
    #[error("editing `{path}`: {source}")]
    Edit { path: String, source: EditError },
    #[error("push to {url} rejected {attempts} time(s), giving up; last reason: {reason}")]
    PushRejected {
        url: String,
        attempts: usize,
        reason: String,
    },
    #[error("cannot push to {url}: {message}")]
    Push { url: String, message: String },
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
}

/// `<forge cache dir>/gitops/<sha256(url)[..16]>` (see `forge_io::cache_dir`).
pub fn default_clone_dir(url: &str) -> PathBuf {
    let hash = hex::encode(sha2::Sha256::digest(url.as_bytes()));
    forge_io::cache_dir::forge_cache_dir()
        .join("gitops")
        .join(&hash[..16])
}

/// The URL for messages (the workspace's one redaction rule).
pub fn display_url(url: &str) -> String {
    forge_core::secret::redact_url(url)
}

impl GitRemote {
    pub fn clone_dir(&self) -> PathBuf {
        self.clone_dir
            .clone()
            .unwrap_or_else(|| default_clone_dir(&self.url))
    }

    /// Applies `edit` to `path` on the remote branch tip and pushes the result,
    /// re-applying it on the new tip when the push is rejected. `edit` maps the
    /// old text to the new one, `None` meaning unchanged (no commit, no push).
    pub fn land_file_edit<F>(
        &self,
        path: &str,
        edit: F,
        message: &CommitMessage,
        opts: &LandOptions,
    ) -> Result<Landed, Error>
    where
        F: Fn(&str) -> Result<Option<String>, EditError>,
    {
        self.land_with(opts, |repo, tip| {
            self.commit_edit(repo, tip, path, &edit, message)
        })
    }

    /// The landing loop every edit shares: under the clone's lock (and the
    /// remote's, when it is a local path), fetch the tip, let `commit` make
    /// a commit on it (`None`: nothing to change), push; on a rejected push,
    /// fetch and commit again, up to `opts.max_attempts`.
    pub(crate) fn land_with(
        &self,
        opts: &LandOptions,
        commit: impl Fn(&Repository, Oid) -> Result<Option<Oid>, Error>,
    ) -> Result<Landed, Error> {
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
            let Some(commit) = commit(&repo, tip)? else {
                return Ok(Landed {
                    commit: None,
                    base: tip.to_string(),
                    attempts: attempt,
                });
            };
            match self.push(&repo, commit)? {
                None => {
                    // Keep the clone in step with what we pushed.
                    let obj = repo.find_object(commit, None)?;
                    repo.reset(&obj, ResetType::Hard, None)?;
                    return Ok(Landed {
                        commit: Some(commit.to_string()),
                        base: tip.to_string(),
                        attempts: attempt,
                    });
                }
                Some(reason) => {
                    tracing::info!(attempt, %reason, "push rejected; fetching and re-applying the edit");
                    last_reason = reason;
                }
            }
        }
        Err(Error::PushRejected {
            url: display_url(&self.url),
            attempts: max,
            reason: last_reason,
        })
    }

    /// Text of `path` at the remote branch tip (after a fetch).
    pub fn read_file(&self, path: &str) -> Result<String, Error> {
        let dir = self.clone_dir();
        let (repo, _lock) = self.open(&dir)?;
        let tip = self.fetch_and_reset(&repo)?;
        let tree = repo.find_commit(tip)?.tree()?;
        self.blob_text(&repo, &tree, path)
    }

    /// For a remote on this machine's file system, an exclusive lock on its
    /// directory, held for a whole fetch, commit and push: libgit2's local
    /// transport checks fast-forward against what this clone fetched, not
    /// atomically on the remote, so two clones landing at once could each
    /// "fast-forward" and one update would be lost.
    pub(crate) fn lock_local_remote(&self) -> Result<Option<File>, Error> {
        let path = match self.url.strip_prefix("file://") {
            Some(p) => PathBuf::from(p),
            None if !self.url.contains("://") && !self.url.contains('@') => {
                PathBuf::from(&self.url)
            }
            None => return Ok(None),
        };
        let Ok(dir) = File::open(&path) else {
            // Not there (yet): the fetch reports it.
            return Ok(None);
        };
        forge_io::file_lock::lock_exclusive(&dir).map_err(|e| Error::CloneDir {
            dir: path.clone(),
            message: format!("lock on the remote: {e}"),
        })?;
        Ok(Some(dir))
    }

    fn open(&self, dir: &Path) -> Result<(Repository, File), Error> {
        let clone_err = |message: String| Error::CloneDir {
            dir: dir.to_owned(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| clone_err(e.to_string()))?;
        // One writer per clone at a time (two deploys on the same machine).
        let lock_path = dir.with_extension("lock");
        let lock = File::create(&lock_path).map_err(|e| clone_err(e.to_string()))?;
        forge_io::file_lock::lock_exclusive(&lock).map_err(|e| clone_err(format!("lock: {e}")))?;
        stale_locks::remove_stale_locks(&dir.join(".git"));
        let repo = if dir.join(".git").exists() {
            let repo = Repository::open(dir).map_err(|e| clone_err(e.message().to_owned()))?;
            let origin_url = repo
                .find_remote("origin")?
                .url()
                .map(str::to_owned)
                .unwrap_or_default();
            if origin_url != self.url {
                return Err(clone_err(format!(
                    "is a clone of {}, not {}; remove it or set gitops.clone_dir",
                    display_url(&origin_url),
                    display_url(&self.url)
                )));
            }
            repo
        } else {
            // Init + fetch rather than clone: the directory already holds the lock.
            let repo = Repository::init(dir).map_err(|e| clone_err(e.message().to_owned()))?;
            repo.remote("origin", &self.url)?;
            repo
        };
        Ok((repo, lock))
    }

    /// Fetches the branch and hard-resets the local branch and work tree to it.
    fn fetch_and_reset(&self, repo: &Repository) -> Result<Oid, Error> {
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let refspec = format!("+refs/heads/{}:{tracking}", self.branch);
        let mut remote = repo.find_remote("origin")?;
        let auth = AuthState::default();
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(self.callbacks(&auth)?);
        if let Err(e) = remote.fetch(&[&refspec], Some(&mut fo), None) {
            return Err(self.transport_error(&auth, e, true));
        }
        let tip = match repo.refname_to_id(&tracking) {
            Ok(oid) => oid,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(Error::BranchMissing {
                    url: display_url(&self.url),
                    branch: self.branch.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let local = format!("refs/heads/{}", self.branch);
        if let Ok(old) = repo.refname_to_id(&local) {
            if old != tip && !repo.graph_descendant_of(tip, old).unwrap_or(false) {
                tracing::warn!(%old, %tip, "local branch in the cache clone diverged from the remote; resetting it");
            }
        }
        if !repo.is_bare() && repo.head().is_ok() {
            let dirty = repo
                .statuses(None)?
                .iter()
                .any(|s| !s.status().is_ignored());
            if dirty {
                tracing::warn!("the cache clone has local changes; discarding them");
            }
        }
        repo.reference(&local, tip, true, "forge: reset to remote")?;
        repo.set_head(&local)?;
        let obj = repo.find_object(tip, None)?;
        repo.reset(&obj, ResetType::Hard, None)?;
        Ok(tip)
    }

    fn blob_text(&self, repo: &Repository, tree: &git2::Tree, path: &str) -> Result<String, Error> {
        let entry = tree
            .get_path(Path::new(path))
            .map_err(|_| Error::FileMissing {
                path: path.to_owned(),
                branch: self.branch.clone(),
            })?;
        let blob = entry
            .to_object(repo)?
            .peel_to_blob()
            .map_err(|_| Error::FileMissing {
                path: path.to_owned(),
                branch: self.branch.clone(),
            })?;
        String::from_utf8(blob.content().to_vec()).map_err(|_| Error::NotText {
            path: path.to_owned(),
        })
    }

    /// Commits the edited file on top of `tip` and points the local branch at
    /// it; `None` when the edit changes nothing.
    fn commit_edit<F>(
        &self,
        repo: &Repository,
        tip: Oid,
        path: &str,
        edit: &F,
        message: &CommitMessage,
    ) -> Result<Option<Oid>, Error>
    where
        F: Fn(&str) -> Result<Option<String>, EditError>,
    {
        let parent = repo.find_commit(tip)?;
        let tree = parent.tree()?;
        let old = self.blob_text(repo, &tree, path)?;
        let new = match edit(&old) {
            Ok(Some(new)) if new != old => new,
            Ok(_) => return Ok(None),
            Err(source) => {
                return Err(Error::Edit {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mode = tree.get_path(Path::new(path))?.filemode() as u32;
        self.commit_file(repo, &parent, path, mode, &new, message)
            .map(Some)
    }

    /// Writes `text` to `path` (with `mode`) in a commit on `parent` and
    /// points the local branch at it.
    pub(crate) fn commit_file(
        &self,
        repo: &Repository,
        parent: &git2::Commit<'_>,
        path: &str,
        mode: u32,
        new: &str,
        message: &CommitMessage,
    ) -> Result<Oid, Error> {
        let tree = parent.tree()?;
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
        let tree_id = index.write_tree()?;
        let new_tree = repo.find_tree(tree_id)?;
        let sig = Signature::now(&self.author_name, &self.author_email)?;
        let text = message.render();
        let oid = match &self.signing_key {
            None => repo.commit(None, &sig, &sig, &text, &new_tree, &[parent])?,
            Some(key) => {
                let buffer = repo.commit_create_buffer(&sig, &sig, &text, &new_tree, &[parent])?;
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
        Ok(oid)
    }

    /// Pushes the local branch; `Some(reason)` when the server (or libgit2,
    /// for a non-fast-forward) rejected it.
    fn push(&self, repo: &Repository, _commit: Oid) -> Result<Option<String>, Error> {
        let refname = format!("refs/heads/{}", self.branch);
        let mut remote = repo.find_remote("origin")?;
        let auth = AuthState::default();
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let result = {
            let mut cb = self.callbacks(&auth)?;
            cb.push_update_reference(|name, status| {
                if let Some(msg) = status {
                    *rejected.borrow_mut() = Some(format!("{name}: {msg}"));
                }
                Ok(())
            });
            let mut po = PushOptions::new();
            po.remote_callbacks(cb);
            remote.push(&[format!("{refname}:{refname}")], Some(&mut po))
        };
        match result {
            Ok(()) => Ok(rejected.into_inner()),
            Err(e) if e.code() == ErrorCode::NotFastForward => Ok(Some(e.message().to_owned())),
            Err(e) => Err(self.transport_error(&auth, e, false)),
        }
    }

    fn transport_error(&self, auth: &AuthState, e: git2::Error, fetch: bool) -> Error {
        let url = display_url(&self.url);
        if let Some(what) = auth.refused.get() {
            return Error::AuthRejected { url, what };
        }
        if let Some(allowed) = auth.missing.take() {
            return Error::NoCredentials { url, allowed };
        }
        if let Some(msg) = auth.token_error.take() {
            return Error::Token(msg);
        }
        if let Some((path, message)) = auth.key_error.take() {
            return Error::SshKeyFile { path, message };
        }
        if e.class() == ErrorClass::Ssh && e.code() == ErrorCode::Certificate {
            return Error::UnknownHostKey { url };
        }
        let message = e.message().to_owned();
        if e.code() == ErrorCode::Certificate && url.starts_with("https://") {
            Error::Certificate { url, message }
        } else if fetch {
            Error::Fetch { url, message }
        } else {
            Error::Push { url, message }
        }
    }

    fn callbacks<'a>(&'a self, auth: &'a AuthState) -> Result<RemoteCallbacks<'a>, Error> {
        let mut cb = RemoteCallbacks::new();
        cb.credentials(move |_url, user_from_url, allowed| {
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(user_from_url.unwrap_or("git"));
            }
            // libgit2 calls again after every refusal: one try, then stop.
            let n = auth.tries.get() + 1;
            auth.tries.set(n);
            if n > 1 {
                auth.refused.set(Some(auth.what.get()));
                return Err(git2::Error::from_str("credentials refused"));
            }
            match &self.auth {
                GitAuth::Token(token) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    auth.what.set("token");
                    Cred::userpass_plaintext("x-access-token", token.expose())
                }
                GitAuth::SshKeyFile(key) if allowed.contains(CredentialType::SSH_KEY) => {
                    // libssh2 would only say "Unable to open private key file".
                    if let Err(e) = std::fs::File::open(key) {
                        auth.key_error.replace(Some((key.clone(), e.to_string())));
                        return Err(git2::Error::from_str("unreadable SSH key file"));
                    }
                    auth.what.set("SSH key file");
                    Cred::ssh_key(user_from_url.unwrap_or("git"), None, key, None)
                }
                GitAuth::Default if allowed.contains(CredentialType::SSH_KEY) => {
                    // libssh2 would report a missing agent as a refused login.
                    if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) {
                        auth.missing.replace(Some(
                            "an SSH key, but SSH_AUTH_SOCK is not set, so there is no SSH agent"
                                .to_owned(),
                        ));
                        return Err(git2::Error::from_str("no SSH agent"));
                    }
                    auth.what.set("SSH agent");
                    Cred::ssh_key_from_agent(user_from_url.unwrap_or("git"))
                }
                _ => {
                    auth.missing.replace(Some(format!("{allowed:?}")));
                    Err(git2::Error::from_str("no usable credentials configured"))
                }
            }
        });
        Ok(cb)
    }
}

#[derive(Default)]
struct AuthState {
    tries: Cell<u32>,
    what: Cell<&'static str>,
    refused: Cell<Option<&'static str>>,
    missing: RefCell<Option<String>>,
    token_error: RefCell<Option<String>>,
    key_error: RefCell<Option<(PathBuf, String)>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_trailers_after_a_blank_line() {
        let m = CommitMessage {
            subject: "deploy web to prod".into(),
            body: Some("pin digest".into()),
            trailers: vec![("Forge-Service".into(), "web".into())],
        };
        assert_eq!(
            m.render(),
            "deploy web to prod\n\npin digest\n\nForge-Service: web\n"
        );
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            display_url("https://bot:s3cret@example.com/x.git"),
            "https://bot:<redacted>@example.com/x.git"
        );
        assert_eq!(display_url("git@host:x.git"), "git@host:x.git");
    }
}

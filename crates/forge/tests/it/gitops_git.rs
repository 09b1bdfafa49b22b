//! The git adapter and the update-gitops step against real remotes: a bare
//! repository over libgit2's local transport (`file://`) and `git daemon`
//! with receive-pack enabled (`git://`, where server-side hooks run). The
//! `git` CLI is used only to seed, inspect and race the remotes.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use forge_adapters::git::{self, CommitMessage, GitAuth, GitRemote, LandOptions};
use forge_core::gitops::kustomize_edit::{set_image, ImageEdit};
use forge_core::secret::Secret;
use forge_steps::update_gitops::{
    update_gitops, GitError, GitopsOutcome, GitopsUpdate, ReleaseInfo, UpdateGitopsError,
};

use crate::support::git::git;
use crate::support::{free_port, wait_for_port};

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  # the web front end
  - name: web
    newName: registry.example/web
    newTag: v1 # {\"$imagepolicy\": \"flux-system:web:tag\"}
  - name: worker
    newName: registry.example/worker
    newTag: v1
";
const FILE: &str = "apps/prod/kustomization.yaml";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A bare `srv/gitops.git` (HEAD = main) seeded with one kustomization.
struct Remote {
    tmp: tempfile::TempDir,
}

impl Remote {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let srv = tmp.path().join("srv");
        std::fs::create_dir_all(&srv).unwrap();
        git(&srv, &["init", "-q", "--bare", "gitops.git"]);
        git(
            &srv.join("gitops.git"),
            &["symbolic-ref", "HEAD", "refs/heads/main"],
        );
        let r = Self { tmp };
        let wc = r.other_clone("seed");
        std::fs::create_dir_all(wc.join("apps/prod")).unwrap();
        std::fs::write(wc.join(FILE), KUSTOMIZATION).unwrap();
        git(&wc, &["add", "."]);
        git(&wc, &["commit", "-q", "-m", "seed"]);
        git(&wc, &["push", "-q", "origin", "HEAD:main"]);
        r
    }
    fn bare(&self) -> PathBuf {
        self.tmp.path().join("srv/gitops.git")
    }
    fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }
    /// A clone made with the git CLI (another writer).
    fn other_clone(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        git(
            self.tmp.path(),
            &["clone", "-q", self.bare().to_str().unwrap(), name],
        );
        dir
    }
    /// `git ARGS` in the bare repository.
    fn git(&self, args: &[&str]) -> String {
        git(&self.bare(), args)
    }
    fn head(&self) -> String {
        self.git(&["rev-parse", "main"])
    }
    fn show(&self, path: &str) -> String {
        self.git(&["show", &format!("main:{path}")])
    }
    /// `git log -1 --format=FORMAT main`.
    fn last(&self, format: &str) -> String {
        self.git(&["log", "-1", &format!("--format={format}"), "main"])
    }
    fn count(&self) -> usize {
        self.git(&["rev-list", "--count", "main"]).parse().unwrap()
    }
    /// Forge's view of the remote at `url`, with its own cache clone `clone`.
    fn forge(&self, url: &str, clone: &str) -> GitRemote {
        GitRemote {
            url: url.to_owned(),
            branch: "main".to_owned(),
            auth: GitAuth::Default,
            author_name: "Forge Bot".to_owned(),
            author_email: "forge@example.com".to_owned(),
            clone_dir: Some(self.tmp.path().join("cache").join(clone)),
            signing_key: None,
        }
    }
    /// A [`Writer`] over `file://`, with its own cache clone `clone`.
    fn writer(&self, clone: &str) -> Writer {
        Writer::new(self.forge(&self.file_url(), clone))
    }
}

/// One deploy's worth of `update_gitops`: pins a service's image in `file`
/// (default [`FILE`]) with the release trailers, retrying with `opts`
/// (default [`fast`]).
struct Writer {
    remote: GitRemote,
    file: &'static str,
    opts: LandOptions,
}

impl Writer {
    fn new(remote: GitRemote) -> Self {
        Self {
            remote,
            file: FILE,
            opts: fast(),
        }
    }
    fn with_opts(self, opts: LandOptions) -> Self {
        Self { opts, ..self }
    }
    fn in_file(self, file: &'static str) -> Self {
        Self { file, ..self }
    }
    /// Pins `service` to digest `d` and lands it.
    fn deploy(&self, service: &str, d: &str) -> Result<GitopsUpdate, UpdateGitopsError> {
        self.update(service, d, false)
    }
    /// What [`Writer::deploy`] would change, pushing nothing.
    fn dry_run(&self, service: &str, d: &str) -> Result<GitopsUpdate, UpdateGitopsError> {
        self.update(service, d, true)
    }
    fn update(
        &self,
        service: &str,
        d: &str,
        dry_run: bool,
    ) -> Result<GitopsUpdate, UpdateGitopsError> {
        update_gitops(
            &self.remote,
            self.file,
            &pin(service, d),
            &release(service, d),
            &self.opts,
            dry_run,
        )
    }
}

/// `git daemon --enable=receive-pack` serving `srv/` on a free loopback port.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(remote: &Remote) -> Self {
        let port = free_port();
        let srv = remote.tmp.path().join("srv");
        // Run git-daemon itself: `git daemon` would leave it orphaned on kill.
        let exec_path = git(&srv, &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", srv.display()),
                "--export-all",
                "--enable=receive-pack",
                srv.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Owned before waiting, so a daemon that never listens is still killed.
        let daemon = Self { child, port };
        wait_for_port(port, "git daemon");
        daemon
    }
    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/gitops.git", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP server on a free loopback port that answers every request with
/// 401 Basic; returns its `gitops.git` URL.
fn always_401() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    format!("http://127.0.0.1:{port}/gitops.git")
}

fn pin(name: &str, d: &str) -> ImageEdit {
    ImageEdit {
        name: name.to_owned(),
        digest: Some(d.to_owned()),
        ..ImageEdit::default()
    }
}

fn release(service: &str, d: &str) -> ReleaseInfo {
    ReleaseInfo {
        service: service.to_owned(),
        environment: "prod".to_owned(),
        image: format!("registry.example/{service}@{d}"),
        flake_rev: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        release: Some("r42".to_owned()),
        rollback_of: None,
        step: None,
    }
}

fn fast() -> LandOptions {
    LandOptions {
        max_attempts: 5,
        backoff: Duration::from_millis(10),
    }
}

#[test]
fn commit_with_trailers_is_pushed_then_an_unchanged_edit_makes_no_commit() {
    let r = Remote::new();
    let w = r.writer("a");
    let d = digest('a');
    let before = r.head();

    let dry = w.dry_run("web", &d).unwrap();
    match &dry.outcome {
        GitopsOutcome::DryRun { diff } => {
            assert!(diff.contains(&format!("+    digest: {d}")), "{diff}")
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(r.head(), before, "a dry run pushes nothing");

    let up = w.deploy("web", &d).unwrap();
    let GitopsOutcome::Committed(sha) = &up.outcome else {
        panic!("{up:?}")
    };
    assert_eq!(up.attempts, 1);
    assert_eq!(up.file, FILE);
    assert_eq!(&r.head(), sha);
    assert!(r.show(FILE).contains(&format!("digest: {d}")));
    assert!(r
        .show(FILE)
        .contains("# {\"$imagepolicy\": \"flux-system:web:tag\"}"));

    let msg = r.last("%B");
    for t in [
        "Forge-Service: web".to_owned(),
        "Forge-Environment: prod".to_owned(),
        format!("Forge-Image: registry.example/web@{d}"),
        "Forge-Flake-Rev: 0123456789abcdef0123456789abcdef01234567".to_owned(),
        "Forge-Release: r42".to_owned(),
    ] {
        assert!(msg.contains(&t), "missing {t:?} in {msg}");
    }
    let trailers = r.last("%(trailers:key=Forge-Service,valueonly)");
    assert_eq!(trailers.trim(), "web", "git parses the trailers");
    let author = r.last("%an <%ae>");
    assert_eq!(author.trim(), "Forge Bot <forge@example.com>");
    let changed = r.git(&["show", "--name-only", "--format=", "main"]);
    assert_eq!(changed.trim(), FILE, "only the kustomization changes");

    // Again, through the existing clone (fetch, not clone): nothing to do.
    let again = w.deploy("web", &d).unwrap();
    assert_eq!(again.outcome, GitopsOutcome::Unchanged);
    assert_eq!(&r.head(), sha);
    let dry = w.dry_run("web", &d).unwrap();
    assert_eq!(
        dry.outcome,
        GitopsOutcome::DryRun {
            diff: String::new()
        }
    );
}

#[test]
fn a_dirty_or_diverged_cache_clone_never_leaks_into_the_commit() {
    let r = Remote::new();
    let w = r.writer("a");
    w.deploy("web", &digest('1')).unwrap();
    // Make the cache dirty: edit the tracked file, add a stray file and a local commit.
    let clone = w.remote.clone_dir();
    std::fs::write(clone.join("stray.txt"), "junk").unwrap();
    git(&clone, &["add", "stray.txt"]);
    git(&clone, &["commit", "-q", "-m", "local only"]);
    std::fs::write(clone.join(FILE), "garbage: true\n").unwrap();

    let d2 = digest('2');
    let up = w.deploy("web", &d2).unwrap();
    assert!(matches!(up.outcome, GitopsOutcome::Committed(_)));
    let text = r.show(FILE);
    assert!(
        text.contains(&format!("digest: {d2}")) && !text.contains("garbage"),
        "{text}"
    );
    let files = r.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(!files.contains("stray.txt"), "{files}");
    let log = r.git(&["log", "--format=%s", "main"]);
    assert!(!log.contains("local only"), "{log}");
}

#[test]
fn a_concurrent_push_forces_the_retry_and_both_edits_land() {
    let r = Remote::new();
    let w = r.writer("a");
    let other = r.other_clone("other");
    let raced = AtomicBool::new(false);
    let (dw, dk) = (digest('e'), digest('f'));
    let edit = |old: &str| -> Result<Option<String>, git::EditError> {
        // Between our fetch and our push, someone else lands a commit.
        if !raced.swap(true, Ordering::SeqCst) {
            let text = std::fs::read_to_string(other.join(FILE)).unwrap();
            let out = set_image(&text, &pin("worker", &dk)).unwrap();
            std::fs::write(other.join(FILE), out.text).unwrap();
            git(&other, &["commit", "-q", "-am", "worker by hand"]);
            git(&other, &["push", "-q", "origin", "HEAD:main"]);
        }
        let out = set_image(old, &pin("web", &dw))?;
        Ok(out.changed().then_some(out.text))
    };
    let msg = CommitMessage {
        subject: "pin web".into(),
        ..Default::default()
    };
    let landed = w.remote.land_file_edit(FILE, edit, &msg, &w.opts).unwrap();
    assert_eq!(landed.attempts, 2, "{landed:?}");
    assert_eq!(landed.commit.as_deref(), Some(r.head().as_str()));
    let text = r.show(FILE);
    assert!(text.contains(&format!("digest: {dw}")), "{text}");
    assert!(
        text.contains(&format!("digest: {dk}")),
        "lost the other edit: {text}"
    );
    assert_eq!(r.count(), 3);
}

#[test]
fn two_writers_in_parallel_threads_both_land_over_git_daemon() {
    // Two deploys of different services (one thread each, each with its own
    // clone, as on two machines) pinning entries of the same file.
    let r = Remote::new();
    let daemon = Daemon::start(&r);
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [("web", 'a', "w1"), ("worker", 'b', "w2")]
        .into_iter()
        .map(|(svc, c, clone)| {
            let w = Writer::new(r.forge(&daemon.url(), clone)).with_opts(LandOptions::default());
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let d = digest(c);
                barrier.wait();
                w.deploy(svc, &d)
            })
        })
        .collect();
    for h in handles {
        let up = h.join().unwrap().unwrap();
        assert!(matches!(up.outcome, GitopsOutcome::Committed(_)), "{up:?}");
    }
    let text = r.show(FILE);
    assert!(text.contains(&format!("digest: {}", digest('a'))), "{text}");
    assert!(text.contains(&format!("digest: {}", digest('b'))), "{text}");
    assert_eq!(r.count(), 3);
}

#[test]
fn a_push_rejected_every_time_gives_up_after_the_bound() {
    let r = Remote::new();
    let hook = r.bare().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'protected branch' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = Daemon::start(&r);
    let w = Writer::new(r.forge(&daemon.url(), "a")).with_opts(LandOptions {
        max_attempts: 3,
        backoff: Duration::from_millis(10),
    });
    let before = r.head();
    let err = w.deploy("web", &digest('c')).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateGitopsError::Git(GitError::PushRejected { attempts: 3, .. })
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("rejected 3 time(s)"), "{text}");
    assert_eq!(r.head(), before, "nothing landed");
}

#[test]
fn unreachable_remote_missing_branch_and_missing_file_are_clear_errors() {
    let r = Remote::new();
    let port = free_port();
    let url = format!("git://127.0.0.1:{port}/gitops.git");
    let err = r.forge(&url, "down").read_file(FILE).unwrap_err();
    assert!(matches!(err, GitError::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");

    let mut remote = r.forge(&r.file_url(), "b");
    remote.branch = "nope".into();
    let err = remote.read_file(FILE).unwrap_err();
    assert!(matches!(err, GitError::BranchMissing { .. }), "{err:?}");

    let w = r.writer("c").in_file("apps/dev/kustomization.yaml");
    let err = w.deploy("web", &digest('d')).unwrap_err();
    assert!(
        err.to_string().contains("apps/dev/kustomization.yaml"),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn refused_credentials_fail_once_without_looping_or_printing_the_token() {
    let url = always_401();
    let r = Remote::new();
    let mut remote = r.forge(&url, "auth");
    remote.auth = GitAuth::Token(Secret::new("sekrit-token-123"));
    let err = remote.read_file(FILE).unwrap_err();
    assert!(
        matches!(err, GitError::AuthRejected { what: "token", .. }),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("sekrit"), "{err:?}");

    // No credentials configured at all: says so.
    let err = r.forge(&url, "auth2").read_file(FILE).unwrap_err();
    assert!(matches!(err, GitError::NoCredentials { .. }), "{err:?}");
}

//! The git adapter and the update-gitops step over SSH, against a real
//! OpenSSH server (`support::sshd`) with real keys and a real `ssh-agent`.
//!
//! libgit2 takes two things for SSH from process-wide state: the home
//! directory (read from `HOME` once, when libgit2 initialises; `known_hosts`
//! is `$HOME/.ssh/known_hosts`) and the agent socket (`SSH_AUTH_SOCK`, read by
//! libssh2 on every agent connection). Neither can be set per test inside this
//! multi-threaded test binary without affecting the other tests, so each SSH
//! operation runs in a child process: this test binary itself, filtered to the
//! ignored test [`child`], with `HOME`/`SSH_AUTH_SOCK` set for it and the
//! operation described in `FORGE_IT_SSH_REQUEST`. The child calls the library
//! exactly as `forge deploy` does and prints the outcome as one JSON line. The
//! parent bounds the child's run time, so a hang or an auth loop fails the
//! test instead of stalling the suite.
//!
//! Host keys (observed with libgit2 1.9 + libssh2, no `certificate_check`
//! callback, which is how the adapter runs): the server's key must be listed
//! for `[host]:port` in `$HOME/.ssh/known_hosts` (plain or hashed); an unknown
//! or different key fails before any credential is offered.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forge_adapters::git::{GitAuth, GitRemote, LandOptions};
use forge_core::gitops::kustomize_edit::ImageEdit;
use forge_steps::update_gitops::{
    update_gitops, GitError, GitopsOutcome, ReleaseInfo, UpdateGitopsError,
};
use serde_json::{json, Value};

use crate::support::git::git;
use crate::support::run_ok;
use crate::support::sshd::{keygen, Agent, Sshd};

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: web
    newName: registry.example/web
    newTag: v1
";
const FILE: &str = "apps/prod/kustomization.yaml";
const REQUEST: &str = "FORGE_IT_SSH_REQUEST";
const RESULT: &str = "FORGE_IT_SSH_RESULT ";
/// Far above a healthy run (well under a second); a hang hits it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A bare `gitops.git` (HEAD = main) with one kustomization, a client key
/// pair authorized on a fresh sshd, and a temp HOME for the client.
struct Fixture {
    tmp: tempfile::TempDir,
    key: PathBuf,
    sshd: Sshd,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let srv = tmp.path().join("srv");
        std::fs::create_dir_all(&srv).unwrap();
        git(&srv, &["init", "-q", "--bare", "gitops.git"]);
        let bare = srv.join("gitops.git");
        git(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        git(tmp.path(), &["clone", "-q", bare.to_str().unwrap(), "seed"]);
        let wc = tmp.path().join("seed");
        std::fs::create_dir_all(wc.join("apps/prod")).unwrap();
        std::fs::write(wc.join(FILE), KUSTOMIZATION).unwrap();
        git(&wc, &["add", "."]);
        git(&wc, &["commit", "-q", "-m", "seed"]);
        git(&wc, &["push", "-q", "origin", "HEAD:main"]);

        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let key = keys.join("id_ed25519");
        let public = keygen(&key);
        let sshd = Sshd::start(&[&public]);
        let f = Self { tmp, key, sshd };
        std::fs::create_dir_all(f.home().join(".ssh")).unwrap();
        f
    }
    fn bare(&self) -> PathBuf {
        self.tmp.path().join("srv/gitops.git")
    }
    fn url(&self) -> String {
        self.sshd.url(&self.bare())
    }
    /// The client's HOME (empty until a test writes `.ssh/known_hosts`).
    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }
    fn trust_host(&self) {
        std::fs::write(
            self.home().join(".ssh/known_hosts"),
            self.sshd.known_hosts_line() + "\n",
        )
        .unwrap();
    }
    /// A key pair the server does not accept.
    fn stranger_key(&self, name: &str) -> PathBuf {
        let key = self.tmp.path().join("keys").join(name);
        keygen(&key);
        key
    }
    fn git(&self, args: &[&str]) -> String {
        git(&self.bare(), args)
    }
    fn request(&self, clone: &str, auth: Auth, op: &str) -> Request {
        Request {
            body: json!({
                "url": self.url(),
                "key": match &auth { Auth::Key(k) => Some(k.to_str().unwrap()), _ => None },
                "clone_dir": self.tmp.path().join("cache").join(clone),
                "op": op,
            }),
            home: self.home(),
            agent: match auth {
                Auth::Agent(sock) => Some(sock),
                _ => None,
            },
            out_dir: self.tmp.path().join(format!("child-{clone}")),
        }
    }
}

enum Auth {
    Key(PathBuf),
    /// `GitAuth::Default` with `SSH_AUTH_SOCK` set to this socket.
    Agent(PathBuf),
    /// `GitAuth::Default` with no `SSH_AUTH_SOCK`.
    NoAgent,
}

struct Request {
    body: Value,
    home: PathBuf,
    agent: Option<PathBuf>,
    out_dir: PathBuf,
}

/// What the child reported: `Ok(outcome)` or `Err((Display, Debug))`.
type Outcome = Result<String, (String, String)>;

impl Request {
    /// Runs the request in a child process (see the module docs); panics if
    /// it does not finish within [`CHILD_TIMEOUT`]. Returns the outcome and
    /// how long the child took.
    fn run(&self) -> (Outcome, Duration) {
        std::fs::create_dir_all(&self.out_dir).unwrap();
        let out_path = self.out_dir.join("stdout");
        let err_path = self.out_dir.join("stderr");
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "gitops_ssh::child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(REQUEST, self.body.to_string())
        .env("HOME", &self.home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
        match &self.agent {
            Some(sock) => cmd.env("SSH_AUTH_SOCK", sock),
            None => cmd.env_remove("SSH_AUTH_SOCK"),
        };
        let start = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > CHILD_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the SSH operation hung for {CHILD_TIMEOUT:?}; stderr:\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = start.elapsed();
        let out = std::fs::read_to_string(&out_path).unwrap();
        // libtest prints `test gitops_ssh::child ... ` on the same line.
        let line = out
            .lines()
            .find_map(|l| l.find(RESULT).map(|i| &l[i + RESULT.len()..]));
        let Some(line) = line else {
            panic!(
                "the child ({status}) reported nothing; stdout:\n{out}\nstderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        };
        let v: Value = serde_json::from_str(line).unwrap();
        let outcome = match v.get("ok") {
            Some(ok) => Ok(ok.as_str().unwrap().to_owned()),
            None => Err((
                v["err"].as_str().unwrap().to_owned(),
                v["debug"].as_str().unwrap().to_owned(),
            )),
        };
        (outcome, elapsed)
    }
}

/// The child side: does what `FORGE_IT_SSH_REQUEST` says through the library
/// and prints the outcome. Run only by [`Request::run`].
#[test]
#[ignore = "child process of the other gitops_ssh tests, which run it themselves"]
fn child() {
    let Ok(req) = std::env::var(REQUEST) else {
        eprintln!("{REQUEST} is not set: nothing to do (this test is run by the other SSH tests)");
        return;
    };
    let req: Value = serde_json::from_str(&req).unwrap();
    let remote = GitRemote {
        url: req["url"].as_str().unwrap().to_owned(),
        branch: "main".to_owned(),
        auth: match req["key"].as_str() {
            Some(key) => GitAuth::SshKeyFile(key.into()),
            None => GitAuth::Default,
        },
        author_name: "Forge Bot".to_owned(),
        author_email: "forge@example.com".to_owned(),
        clone_dir: Some(req["clone_dir"].as_str().unwrap().into()),
        signing_key: None,
    };
    let result: Result<String, String> = match req["op"].as_str().unwrap() {
        "read" => remote.read_file(FILE).map_err(|e| report(&e)),
        op => {
            // "deploy:<digest char>"
            let c = op.strip_prefix("deploy:").unwrap().chars().next().unwrap();
            let d = digest(c);
            let edit = ImageEdit {
                name: "web".to_owned(),
                digest: Some(d.clone()),
                ..ImageEdit::default()
            };
            let release = ReleaseInfo {
                service: "web".to_owned(),
                environment: "prod".to_owned(),
                image: format!("registry.example/web@{d}"),
                flake_rev: None,
                release: Some("r1".to_owned()),
                rollback_of: None,
                step: None,
            };
            let opts = LandOptions {
                max_attempts: 3,
                backoff: Duration::from_millis(10),
            };
            match update_gitops(&remote, FILE, &edit, &release, &opts, false) {
                Ok(up) => Ok(match up.outcome {
                    GitopsOutcome::Committed(sha) => format!("committed {sha}"),
                    other => format!("{other:?}"),
                }),
                Err(UpdateGitopsError::Git(e)) => Err(report(&e)),
                Err(e) => Err(json!({"err": e.to_string(), "debug": format!("{e:?}")}).to_string()),
            }
        }
    };
    let line = match result {
        Ok(ok) => json!({ "ok": ok }).to_string(),
        Err(err) => err,
    };
    println!("{RESULT}{line}");
}

fn report(e: &GitError) -> String {
    json!({"err": e.to_string(), "debug": format!("{e:?}")}).to_string()
}

fn committed(outcome: &Outcome) -> String {
    match outcome {
        Ok(o) => o
            .strip_prefix("committed ")
            .unwrap_or_else(|| panic!("no commit: {o}"))
            .to_owned(),
        Err((e, d)) => panic!("{e}\n{d}"),
    }
}

#[test]
fn key_file_push_lands_the_commit_over_real_sshd() {
    let f = Fixture::new();
    f.trust_host();
    let before = f.git(&["rev-parse", "main"]);
    let (out, _) = f.request("a", Auth::Key(f.key.clone()), "deploy:a").run();
    let sha = committed(&out);
    // The git CLI, reading the bare repository directly, sees the commit.
    assert_eq!(f.git(&["rev-parse", "main"]), sha, "{}", f.sshd.log());
    assert_eq!(f.git(&["rev-parse", "main~1"]), before);
    let text = f.git(&["show", &format!("main:{FILE}")]);
    assert!(text.contains(&format!("digest: {}", digest('a'))), "{text}");
    assert_eq!(
        f.git(&["log", "-1", "--format=%an <%ae>", "main"]),
        "Forge Bot <forge@example.com>"
    );
    assert!(f
        .git(&["log", "-1", "--format=%B", "main"])
        .contains("Forge-Service: web"));
    // sshd saw a public-key login with that key.
    let log = f.sshd.log();
    assert!(log.contains("Accepted publickey for"), "{log}");

    // Again through the existing clone: fetch over SSH, nothing to push.
    let (out, _) = f.request("a", Auth::Key(f.key.clone()), "deploy:a").run();
    assert_eq!(out, Ok("Unchanged".to_owned()));
    // And a second change through the same clone.
    let (out, _) = f.request("a", Auth::Key(f.key.clone()), "deploy:b").run();
    let sha2 = committed(&out);
    assert_eq!(f.git(&["rev-parse", "main"]), sha2);
    assert_eq!(f.git(&["rev-parse", "main~1"]), sha);
}

#[test]
fn ssh_agent_push_lands_the_commit_with_default_auth() {
    let f = Fixture::new();
    f.trust_host();
    let agent = Agent::start();
    agent.add(&f.key);
    let (out, _) = f
        .request("a", Auth::Agent(agent.sock.clone()), "deploy:c")
        .run();
    let sha = committed(&out);
    assert_eq!(f.git(&["rev-parse", "main"]), sha);
    let text = f.git(&["show", &format!("main:{FILE}")]);
    assert!(text.contains(&format!("digest: {}", digest('c'))), "{text}");
}

#[test]
fn refused_or_missing_ssh_credentials_fail_once_and_quickly() {
    let f = Fixture::new();
    f.trust_host();
    let before = f.git(&["rev-parse", "main"]);
    let quick = Duration::from_secs(20);

    // A key file the server does not accept.
    let (out, took) = f
        .request("k", Auth::Key(f.stranger_key("stranger1")), "deploy:d")
        .run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("AuthRejected"), "{debug}");
    assert!(
        msg.contains("refused the credentials (SSH key file)"),
        "{msg}"
    );
    assert!(took < quick, "took {took:?}");
    // One offer of the key, not a loop: sshd logs each failed publickey try.
    let log = f.sshd.log();
    assert!(
        log.matches("Failed publickey").count() == 1,
        "not exactly one try:\n{log}"
    );

    // An agent holding only a key the server does not accept.
    let agent = Agent::start();
    agent.add(&f.stranger_key("stranger2"));
    let (out, took) = f
        .request("g", Auth::Agent(agent.sock.clone()), "deploy:d")
        .run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("AuthRejected"), "{debug}");
    assert!(msg.contains("(SSH agent)"), "{msg}");
    assert!(took < quick, "took {took:?}");

    // Default auth with no agent at all (SSH_AUTH_SOCK unset).
    let (out, took) = f.request("n", Auth::NoAgent, "read").run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("NoCredentials"), "{debug}");
    assert!(msg.contains("SSH_AUTH_SOCK is not set"), "{msg}");
    assert!(took < quick, "took {took:?}");

    // A key file that does not exist.
    let (out, took) = f
        .request("m", Auth::Key(f.tmp.path().join("keys/nope")), "read")
        .run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("SshKeyFile"), "{debug}");
    assert!(
        msg.contains("cannot read the SSH key file") && msg.contains("keys/nope"),
        "{msg}"
    );
    assert!(took < quick, "took {took:?}");

    assert_eq!(f.git(&["rev-parse", "main"]), before, "nothing landed");
}

#[test]
fn the_server_host_key_must_be_in_known_hosts() {
    let f = Fixture::new();
    let before = f.git(&["rev-parse", "main"]);
    let key = || Auth::Key(f.key.clone());

    // No known_hosts at all: refused before any credential is offered.
    let (out, _) = f.request("u", key(), "deploy:e").run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("UnknownHostKey"), "{debug}");
    assert!(msg.contains("~/.ssh/known_hosts"), "{msg}");
    assert!(
        !f.sshd.log().contains("Accepted publickey"),
        "{}",
        f.sshd.log()
    );

    // Listed, but with another key (a man in the middle, or a rebuilt server).
    let other = keygen(&f.tmp.path().join("keys/other_host"));
    let other = other
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let known = f.home().join(".ssh/known_hosts");
    std::fs::write(&known, format!("[127.0.0.1]:{} {other}\n", f.sshd.port)).unwrap();
    let (out, _) = f.request("x", key(), "deploy:e").run();
    let (msg, debug) = out.unwrap_err();
    assert!(debug.starts_with("UnknownHostKey"), "{debug}");
    assert!(msg.contains("~/.ssh/known_hosts"), "{msg}");
    assert_eq!(f.git(&["rev-parse", "main"]), before, "nothing landed");

    // Unlike OpenSSH, libssh2 also accepts the plain `host` entry (the form
    // for port 22) for a server on another port of that host.
    std::fs::write(&known, format!("127.0.0.1 {}\n", f.sshd.host_key)).unwrap();
    let (out, _) = f.request("y", key(), "deploy:e").run();
    committed(&out);

    // Lines libssh2 cannot use (a CA marker, a security-key host key) are
    // skipped; they do not spoil the rest of the file.
    std::fs::write(
        &known,
        format!(
            "@cert-authority *.example.com {other}\n{}\n",
            f.sshd.known_hosts_line()
        ),
    )
    .unwrap();
    let (out, _) = f.request("z", key(), "read").run();
    assert!(out.is_ok(), "{out:?}");
    std::fs::write(
        &known,
        format!("example.com sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIDCLOFTDT+6hU5PyVYQcl6yc8qdQGzODDQ2kWVVvLQLrAAAABHNzaDo= x\n{}\n", f.sshd.known_hosts_line()),
    )
    .unwrap();
    let (out, _) = f.request("z2", key(), "read").run();
    assert!(out.is_ok(), "{out:?}");

    // Listed in hashed form (Debian's ssh writes HashKnownHosts yes): works.
    std::fs::write(&known, f.sshd.known_hosts_line() + "\n").unwrap();
    run_ok(Command::new("ssh-keygen").arg("-H").arg("-f").arg(&known));
    let hashed = std::fs::read_to_string(&known).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let (out, _) = f.request("h", key(), "deploy:f").run();
    committed(&out);

    // Listed in plain form, after other hosts' entries: works.
    std::fs::write(
        &known,
        format!("github.com {other}\n{}\n", f.sshd.known_hosts_line()),
    )
    .unwrap();
    let (out, _) = f.request("p", key(), "deploy:1").run();
    let sha = committed(&out);
    assert_eq!(f.git(&["rev-parse", "main"]), sha);
}

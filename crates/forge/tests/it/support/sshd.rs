//! A real OpenSSH server (Debian `openssh-server`) on a loopback port, with its
//! own config, host key and authorized keys, run as the current user; plus
//! `ssh-agent` and `ssh-keygen` helpers. Both daemons are killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{free_port, run_ok, stdout, wait_for_port};

const SSHD: &str = "/usr/sbin/sshd";

/// `ssh-keygen -t ed25519` without a passphrase at `path`; returns the public
/// key line (`ssh-ed25519 AAAA... comment`).
pub fn keygen(path: &Path) -> String {
    run_ok(Command::new("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "forge-test",
        "-f",
        path.to_str().unwrap(),
    ]));
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The current user's name (`root` in CI): the only user an unprivileged
/// sshd can log in, and the one a privileged one is told to allow.
pub fn current_user() -> String {
    stdout(&run_ok(Command::new("id").arg("-un")))
        .trim()
        .to_owned()
}

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub user: String,
    /// `ssh-ed25519 AAAA...` (no comment).
    pub host_key: String,
    dir: TempDir,
}

impl Sshd {
    /// Starts `sshd -D` on a free loopback port accepting only public-key
    /// logins of the current user with one of `authorized` (public key lines).
    pub fn start(authorized: &[&str]) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server (scripts/install-deps)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_key = d.join("host_ed25519");
        let host_pub = keygen(&host_key);
        let host_key_line = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let auth_keys = d.join("authorized_keys");
        std::fs::write(&auth_keys, authorized.join("\n") + "\n").unwrap();
        let user = current_user();
        // Running as root, sshd insists on its privilege separation directory,
        // which only the Debian service unit would otherwise create.
        if user == "root" {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1
HostKey {host}
PidFile none
AuthorizedKeysFile {keys}
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
",
                host = host_key.display(),
                keys = auth_keys.display(),
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(&config)
            .args(["-p", &port.to_string(), "-h"])
            .arg(&host_key)
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sshd");
        // Owned before waiting, so a server that never listens is still killed.
        let sshd = Self {
            child,
            port,
            user,
            host_key: host_key_line,
            dir,
        };
        wait_for_port(port, "sshd");
        sshd
    }

    /// `ssh://USER@127.0.0.1:PORT/<abs path>`.
    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// This server's line for a `known_hosts` file (non-22 port form).
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key)
    }

    /// What sshd logged so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ssh-agent -D -a SOCK` (foreground, so killing it ends it).
pub struct Agent {
    child: Child,
    pub sock: PathBuf,
    _dir: TempDir,
}

impl Agent {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ssh-agent (apt-get install openssh-client)");
        let agent = Self {
            child,
            sock,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !agent.sock.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "ssh-agent did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        agent
    }

    /// `ssh-add KEY` into this agent.
    pub fn add(&self, key: &Path) {
        run_ok(
            Command::new("ssh-add")
                .env("SSH_AUTH_SOCK", &self.sock)
                .arg("-q")
                .arg(key),
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

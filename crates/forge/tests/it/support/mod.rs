//! Real components for integration tests: Nix with a test flake, nginx with
//! WebDAV as a writable HTTP cache, and the Attic protocol test double.

pub mod attic_double;
pub mod git;
pub mod git_https;
pub mod nginx;
pub mod registry;
pub mod sshd;
pub mod testenv;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Nix settings for tests: flakes on, no sandbox or build users, no network substituters.
pub const NIX_CONFIG: &str = "experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =\nwarn-dirty = false\n";

pub fn system() -> String {
    let arch = std::env::consts::ARCH;
    format!("{arch}-linux")
}

/// `nix` with the test settings.
pub fn nix() -> Command {
    let mut c = Command::new("nix");
    c.env("NIX_CONFIG", NIX_CONFIG);
    c
}

/// The `forge` binary under test.
pub fn forge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_forge"));
    c.env("NIX_CONFIG", NIX_CONFIG)
        .env("FORGE_LEDGER", fresh_ledger())
        .env_remove("ATTIC_TOKEN")
        .env_remove("RUST_LOG");
    c
}

/// A ledger file of its own for each command (deploys record runs, and tests
/// running at once deploy the same service names): tests that read the
/// ledger back name theirs, or remove FORGE_LEDGER to use deploy.yaml's.
fn fresh_ledger() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ledgers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a ledger directory");
    dir.join(format!("ledger-{}.db", N.fetch_add(1, Ordering::Relaxed)))
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A copy of a fixture flake in a temp dir, used as a `path:` flake.
pub struct Flake {
    pub dir: TempDir,
}

impl Flake {
    pub fn basic() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flakes/basic/flake.nix");
        let text = std::fs::read_to_string(src)
            .unwrap()
            .replace("@SYSTEM@", &system());
        std::fs::write(dir.path().join("flake.nix"), text).unwrap();
        Self { dir }
    }

    pub fn installable(&self, attr: &str) -> String {
        format!("path:{}#{attr}", self.dir.path().display())
    }

    /// Builds `attr` with Nix itself and returns its output path.
    pub fn build(&self, attr: &str) -> String {
        let out = run_ok(nix().args(["build", "--no-link", "--json", &self.installable(attr)]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["outputs"]["out"].as_str().unwrap().to_owned()
    }
}

/// A signing key pair made by Nix: (secret key file, public key).
pub fn nix_keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let sec = dir.join(format!("{name}.sec"));
    let out = run_ok(nix().args(["key", "generate-secret", "--key-name", name]));
    std::fs::write(&sec, &out.stdout).unwrap();
    let public = run_ok(
        nix()
            .args(["key", "convert-secret-to-public"])
            .stdin(std::fs::File::open(&sec).unwrap()),
    );
    (sec, stdout(&public).trim().to_owned())
}

/// Copies `path` from `cache` into a fresh chroot store with signature
/// checking on, trusting only `public_key`. Returns Nix's output.
pub fn substitute(cache: &str, public_key: &str, path: &str, extra: &[&str]) -> (Output, TempDir) {
    let store = tempfile::tempdir().unwrap();
    let out = nix()
        .args([
            "copy",
            "--from",
            cache,
            "--to",
            store.path().to_str().unwrap(),
        ])
        .args(["--option", "trusted-public-keys", public_key])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    (out, store)
}

pub use forge_testkit::{free_port, wait_for_port};

//! Starts `tests/doubles/attic_double.py`, the Attic API test double.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::free_port;

pub const SECRET_B64: &str = "Zm9yZ2UtdGVzdC1zZWNyZXQtZm9yZ2UtdGVzdC1zZWNyZXQ=";

pub struct AtticDouble {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/attic_double.py")
}

impl AtticDouble {
    /// `extra`: e.g. `["--fail-first", "3"]`.
    pub fn start(caches: &[&str], extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(script())
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--jwt-secret-base64",
                SECRET_B64,
            ])
            .args(["--log", dir.path().join("requests.jsonl").to_str().unwrap()]);
        for c in caches {
            cmd.args(["--cache", c]);
        }
        let mut child = cmd
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "attic double did not start");
        Self { child, port, dir }
    }

    /// A token for `perms` such as `["main:rw"]`.
    pub fn token(&self, perms: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg(script())
            .args(["mint", "--jwt-secret-base64", SECRET_B64]);
        for p in perms {
            cmd.args(["--perm", p]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn push_url(&self, cache: &str) -> String {
        format!("attic+http://127.0.0.1:{}/{cache}", self.port)
    }

    pub fn read_url(&self, cache: &str) -> String {
        format!("http://127.0.0.1:{}/{cache}", self.port)
    }

    /// Every request the double saw, one JSON object each.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for AtticDouble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Starts `doubles/attic_double.py`, the Attic API test double, on a loopback port.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::{double_script, free_port};

/// The double, serving on a loopback port and logging every request; killed on drop.
pub struct AtticDouble {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    secret_b64: String,
}

impl AtticDouble {
    /// Serves `caches` on a free port, verifying tokens signed with `secret_b64`;
    /// `extra`: more flags, e.g. `["--fail-first", "3"]`.
    pub fn start(secret_b64: &str, caches: &[&str], extra: &[&str]) -> Self {
        Self::start_on(free_port(), secret_b64, caches, extra)
    }

    pub fn start_on(port: u16, secret_b64: &str, caches: &[&str], extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(double_script("attic_double.py"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--jwt-secret-base64",
                secret_b64,
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
        Self {
            child,
            port,
            dir,
            secret_b64: secret_b64.to_owned(),
        }
    }

    /// A token for `perms` such as `["main:rw"]`, signed with the double's secret.
    pub fn token(&self, perms: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg(double_script("attic_double.py")).args([
            "mint",
            "--jwt-secret-base64",
            &self.secret_b64,
        ]);
        for p in perms {
            cmd.args(["--perm", p]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

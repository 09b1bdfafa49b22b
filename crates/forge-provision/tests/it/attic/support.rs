//! Support for the `attic` tests: the Attic protocol test double, tokens
//! from its minter, and a spec directory to run `forge-provision attic` on.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use forge_testkit::attic_double::AtticDouble;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use tempfile::TempDir;

/// The server's HS256 secret (base64), as the double and the spec know it.
pub const SECRET_B64: &str = "cHJvdmlzaW9uLXRlc3Qtc2VjcmV0LXByb3Zpc2lvbi10ZXN0";
/// Another secret: tokens signed with it are refused.
pub const OTHER_SECRET_B64: &str = "c29tZWJvZHktZWxzZXMtc2VjcmV0LXNvbWVib2R5LWVsc2U=";

pub use crate::testenv::free_port;

/// The double (forge-testkit's launcher) with this suite's secret.
pub struct Double(AtticDouble);

impl Double {
    pub fn start(caches: &[&str]) -> Double {
        Double::start_on(free_port(), caches)
    }

    pub fn start_on(port: u16, caches: &[&str]) -> Double {
        Double(AtticDouble::start_on(port, SECRET_B64, caches, &[]))
    }

    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// Every request the double saw: (method, path).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.0
            .requests()
            .into_iter()
            .map(|v| {
                (
                    v["method"].as_str().unwrap_or_default().to_owned(),
                    v["path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    pub fn mutating_requests(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|(m, _)| m != "GET" && m != "HEAD")
            .collect()
    }

    /// One HTTP/1.1 request; returns (status, body).
    pub fn http(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.0.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// `GET /_api/v1/cache-config/{cache}` with `token`; returns (status, body).
    pub fn get_config(&self, cache: &str, token: &str) -> (u16, String) {
        self.http("GET", &format!("/_api/v1/cache-config/{cache}"), token, "")
    }
}

/// A token from the double's own minter, e.g. `perm = "main:r,cc,cr,cq"`.
pub fn double_token(secret_b64: &str, sub: &str, perm: &str, exp_seconds: u64) -> String {
    let out = Command::new("python3")
        .arg(forge_testkit::double_script("attic_double.py"))
        .args([
            "mint",
            "--jwt-secret-base64",
            secret_b64,
            "--sub",
            sub,
            "--perm",
            perm,
            "--exp-seconds",
            &exp_seconds.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn admin_token() -> String {
    double_token(SECRET_B64, "admin", "*:r,w,cc,cr,cq", 3600)
}

/// A spec dir holding `attic.yaml`, and the admin token to run it with.
pub struct Setup {
    pub dir: TempDir,
    pub admin: String,
}

impl Setup {
    /// The usual spec for `double`: cache `main` and a `ci` token written to
    /// `secrets/ci.token`, then `extra` (more `tokens` entries).
    pub fn new(double: &Double, extra: &str) -> Setup {
        Setup::with_yaml(&format!(
            r#"server: {{ endpoint: "{}", token_env: ATTIC_ADMIN_TOKEN }}
caches:
  - name: main
    public: false
    priority: 40
    upstream_cache_keys: ["cache.nixos.org-1"]
    retention: 30d
tokens:
  - subject: ci
    validity: 90d
    secret_env: ATTIC_SERVER_TOKEN_SECRET
    permissions: {{ main: [pull, push] }}
    output_file: secrets/ci.token
{extra}"#,
            double.endpoint()
        ))
    }

    /// A spec dir holding `yaml` as its `attic.yaml`.
    pub fn with_yaml(yaml: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("attic.yaml"), yaml).unwrap();
        Setup {
            dir,
            admin: admin_token(),
        }
    }

    pub fn spec(&self) -> String {
        self.dir.path().join("attic.yaml").display().to_string()
    }

    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("secrets/ci.token")
    }

    /// `forge-provision attic ARGS --config SPEC`, with no environment of its own.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_forge-provision"));
        cmd.arg("attic").args(args).args(["--config", &self.spec()]);
        cmd
    }

    /// Runs [`Setup::command`] with the admin token and the server secret set.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .env("ATTIC_ADMIN_TOKEN", &self.admin)
            .env("ATTIC_SERVER_TOKEN_SECRET", SECRET_B64)
            .output()
            .unwrap()
    }
}

/// The claims of a JWT (not verified: the double does that).
pub fn claims(token: &str) -> serde_json::Value {
    let body = token.trim().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Secrets for calling the library directly (the process environment is
/// shared between tests, so it is not used).
pub struct Vars(pub Vec<(&'static str, String)>);

impl forge_provision::domain::secret_ref::SecretSource for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
    fn read_file(&self, _: &str) -> Result<String, String> {
        Err("no files here".into())
    }
}

//! `forge-provision attic` against the Attic protocol test double
//! (`cli/tests/doubles/attic_double.py`, shared with `forge cache push`),
//! which checks JWT signatures and permissions and logs every request.

use crate::testenv::{expect_code, text};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use tempfile::TempDir;

/// The server's HS256 secret (base64), as the double and the spec know it.
const SECRET_B64: &str = "cHJvdmlzaW9uLXRlc3Qtc2VjcmV0LXByb3Zpc2lvbi10ZXN0";
/// Another secret: tokens signed with it are refused.
const OTHER_SECRET_B64: &str = "c29tZWJvZHktZWxzZXMtc2VjcmV0LXNvbWVib2R5LWVsc2U=";

struct Double {
    child: Child,
    port: u16,
    dir: TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/doubles/attic_double.py")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Double {
    fn start(caches: &[&str]) -> Double {
        Double::start_on(free_port(), caches)
    }

    fn start_on(port: u16, caches: &[&str]) -> Double {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(script()).args([
            "serve",
            "--port",
            &port.to_string(),
            "--jwt-secret-base64",
            SECRET_B64,
            "--log",
            dir.path().join("requests.jsonl").to_str().unwrap(),
        ]);
        for c in caches {
            cmd.args(["--cache", c]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "attic double did not start");
        Double { child, port, dir }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request the double saw: (method, path).
    fn requests(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["method"].as_str().unwrap_or_default().to_owned(),
                    v["path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn mutating_requests(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|(m, _)| m != "GET" && m != "HEAD")
            .collect()
    }

    /// One HTTP/1.1 request; returns (status, body).
    fn http(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
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
}

impl Drop for Double {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token from the double's own minter, e.g. `perm = "main:r,cc,cr,cq"`.
fn double_token(secret_b64: &str, sub: &str, perm: &str, exp_seconds: u64) -> String {
    let out = Command::new("python3")
        .arg(script())
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

/// A spec dir holding `attic.yaml` for the double; the ci token goes to `ci.token` there.
struct Setup {
    dir: TempDir,
    admin: String,
}

impl Setup {
    fn new(double: &Double, extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
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
        );
        std::fs::write(dir.path().join("attic.yaml"), yaml).unwrap();
        Setup {
            dir,
            admin: admin_token(),
        }
    }

    fn spec(&self) -> String {
        self.dir.path().join("attic.yaml").display().to_string()
    }

    fn token_path(&self) -> PathBuf {
        self.dir.path().join("secrets/ci.token")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let spec = self.spec();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_forge-provision"));
        cmd.arg("attic")
            .args(args)
            .args(["--config", &spec])
            .env("ATTIC_ADMIN_TOKEN", &self.admin)
            .env("ATTIC_SERVER_TOKEN_SECRET", SECRET_B64);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// The claims of a JWT (not verified: the double does that).
fn claims(token: &str) -> serde_json::Value {
    let body = token.trim().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn apply_from_empty_then_nothing_to_do() {
    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");

    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 2);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("POST /_api/v1/cache-config/main {keypair: Generate, is_public: false, store_dir: \"/nix/store\", priority: 40, upstream_cache_key_names: [\"cache.nixos.org-1\"]}"), "{stdout}");
    assert!(
        stdout.contains("PATCH /_api/v1/cache-config/main {retention_period: Global -> 30d}"),
        "{stdout}"
    );
    assert!(stdout.contains("mint token for ci -> "), "{stdout}");
    assert!(stdout.contains("ci.token (missing)"), "{stdout}");
    assert!(double.mutating_requests().is_empty());
    assert!(!setup.token_path().exists());

    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("-- applied 3 changes"), "{stdout}");
    for s in [&stdout, &stderr] {
        assert!(!s.contains(&setup.admin) && !s.contains(SECRET_B64));
    }
    assert_eq!(
        double.mutating_requests(),
        [
            ("POST".to_owned(), "/_api/v1/cache-config/main".to_owned()),
            ("PATCH".to_owned(), "/_api/v1/cache-config/main".to_owned()),
        ]
    );

    // The token file: mode 0600, not in the output, accepted for what it grants.
    let mode = std::fs::metadata(setup.token_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(setup.token_path()).unwrap();
    let token = token.trim();
    assert!(!stdout.contains(token));
    let c = claims(token);
    assert_eq!(c["sub"], "ci");
    assert_eq!(
        c["https://jwt.attic.rs/v1"]["caches"]["main"],
        serde_json::json!({"r": 1, "w": 1})
    );
    let (status, body) = double.http("GET", "/_api/v1/cache-config/main", token, "");
    assert_eq!(status, 200, "{body}");
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["priority"], 40);
    assert_eq!(
        config["retention_period"],
        serde_json::json!({"Period": 2_592_000})
    );
    // Not granted: configure_cache.
    let (status, body) = double.http(
        "PATCH",
        "/_api/v1/cache-config/main",
        token,
        r#"{"priority": 1}"#,
    );
    assert_eq!(status, 403, "{body}");

    // Again: nothing to do, and only reads.
    let before = double.requests().len();
    let out = setup.run(&["apply", "--check"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("-- no changes"), "{}", text(&out).0);
    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("-- no changes"));
    let after = double.requests();
    assert!(after[before..].iter().all(|(m, _)| m == "GET"), "{after:?}");
    assert_eq!(
        std::fs::read_to_string(setup.token_path()).unwrap().trim(),
        token,
        "a good token is not re-minted"
    );
}

#[test]
fn drift_is_detected_and_repaired() {
    let double = Double::start(&["main"]);
    let setup = Setup::new(&double, "");
    expect_code(&setup.run(&["apply"]), 0);
    expect_code(&setup.run(&["plan", "--check"]), 0);

    let (status, body) = double.http(
        "PATCH",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"priority": 10, "is_public": true}"#,
    );
    assert_eq!(status, 200, "{body}");

    let out = setup.run(&["plan", "--check", "--json"]);
    expect_code(&out, 2);
    let plan: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(plan["changes"], 1);
    assert_eq!(plan["applied"], false);
    assert_eq!(
        plan["steps"][0]["display"],
        "PATCH /_api/v1/cache-config/main {is_public: true -> false, priority: 10 -> 40}"
    );
    assert_eq!(
        plan["steps"][0]["body"],
        serde_json::json!({"is_public": false, "priority": 40})
    );

    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("priority: 10 -> 40"));
    expect_code(&setup.run(&["plan", "--check"]), 0);
    let (_, body) = double.http("GET", "/_api/v1/cache-config/main", &setup.admin, "");
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (config["priority"].clone(), config["is_public"].clone()),
        (40.into(), false.into())
    );
}

#[test]
fn an_expiring_token_is_reminted() {
    let double = Double::start(&["main"]);
    let setup = Setup::new(&double, "");
    std::fs::create_dir_all(setup.token_path().parent().unwrap()).unwrap();
    // Right subject and permissions, but only an hour left (renew_before is 7d).
    let old = double_token(SECRET_B64, "ci", "main:r,w", 3600);
    std::fs::write(setup.token_path(), format!("{old}\n")).unwrap();
    std::fs::set_permissions(setup.token_path(), std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 2);
    let stdout = text(&out).0;
    assert!(stdout.contains("within renew_before 7d)"), "{stdout}");
    assert!(!stdout.contains(&old));
    expect_code(&setup.run(&["apply"]), 0);
    let new = std::fs::read_to_string(setup.token_path()).unwrap();
    assert_ne!(new.trim(), old);
    let exp = claims(&new)["exp"].as_u64().unwrap();
    assert!(exp > now() + 89 * 86_400, "{exp}");
    let (status, _) = double.http("GET", "/_api/v1/cache-config/main", new.trim(), "");
    assert_eq!(status, 200);
    expect_code(&setup.run(&["plan", "--check"]), 0);

    // A token signed with another secret (a rotated server secret) is replaced too.
    let foreign = double_token(OTHER_SECRET_B64, "ci", "main:r,w", 90 * 86_400);
    std::fs::write(setup.token_path(), &foreign).unwrap();
    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 2);
    assert!(text(&out).0.contains("does not verify with the secret"));
}

#[test]
fn a_missing_secret_stops_before_any_change() {
    let double = Double::start(&[]);
    let setup = Setup::new(
        &double,
        "  - subject: deploy\n    validity: 30d\n    secret_env: FORGE_TEST_UNSET_SECRET\n    permissions: { main: [pull] }\n    output_file: secrets/deploy.token\n",
    );
    let out = setup.run_env(&["apply"], &[]);
    expect_code(&out, 1);
    let stderr = text(&out).1;
    assert!(
        stderr.contains(&format!(
            "{}:16:17: tokens[1].secret_env: environment variable FORGE_TEST_UNSET_SECRET is not set",
            setup.spec()
        )),
        "{stderr}"
    );
    assert!(double.mutating_requests().is_empty());
    assert!(double.requests().is_empty(), "{:?}", double.requests());
    assert!(!setup.token_path().exists(), "no token written either");
}

#[test]
fn a_wrong_admin_token_is_a_clear_401() {
    let double = Double::start(&["main"]);
    let mut setup = Setup::new(&double, "");
    setup.admin = double_token(OTHER_SECRET_B64, "admin", "*:r,w,cc,cr,cq", 3600);
    let out = setup.run(&["apply"]);
    expect_code(&out, 1);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("reading the configuration of cache `main`")
            && stderr.contains("authentication failed (HTTP 401)"),
        "{stderr}"
    );
    assert!(!stderr.contains(&setup.admin) && !stdout.contains(&setup.admin));
    assert!(double.mutating_requests().is_empty());
    assert!(!setup.token_path().exists());
}

#[test]
fn an_admin_token_without_a_permission_is_a_clear_403() {
    let double = Double::start(&[]);
    let mut setup = Setup::new(&double, "");
    // Can read and create, but not configure retention.
    setup.admin = double_token(SECRET_B64, "admin", "main:r,cc,cr", 3600);
    let out = setup.run(&["apply"]);
    expect_code(&out, 1);
    let stderr = text(&out).1;
    assert!(
        stderr.contains("PATCH /_api/v1/cache-config/main")
            && stderr.contains("HTTP 403")
            && stderr.contains("cq"),
        "{stderr}"
    );
}

#[test]
fn a_cache_created_elsewhere_is_patched_not_created() {
    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");
    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 2);
    let (status, _) = double.http(
        "POST",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"keypair": "Generate", "is_public": true, "store_dir": "/nix/store", "priority": 5, "upstream_cache_key_names": []}"#,
    );
    assert_eq!(status, 200);
    // A fresh run sees it and patches it; no create.
    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    let stdout = text(&out).0;
    assert!(!stdout.contains("POST"), "{stdout}");
    assert!(
        stdout.contains("is_public: true -> false, priority: 5 -> 40, upstream_cache_key_names: [] -> [\"cache.nixos.org-1\"], retention_period: Global -> 30d"),
        "{stdout}"
    );
    expect_code(&setup.run(&["plan", "--check"]), 0);
}

/// Secrets for calling the library directly (the process environment is
/// shared between tests, so it is not used).
struct Vars(Vec<(&'static str, String)>);

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

#[test]
fn create_racing_another_creator_counts_as_created_and_patches_what_differs() {
    use forge_provision::adapters::attic::execute;
    use forge_provision::domain::attic_plan::{plan_attic, AtticObserved};
    use forge_provision::domain::attic_spec::parse_attic;

    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");
    let desired = parse_attic(
        &std::fs::read_to_string(setup.spec()).unwrap(),
        &setup.spec(),
        setup.dir.path(),
        std::sync::Arc::new(Vars(vec![
            ("ATTIC_ADMIN_TOKEN", setup.admin.clone()),
            ("ATTIC_SERVER_TOKEN_SECRET", SECRET_B64.into()),
        ])),
    )
    .unwrap();
    // Planned while the cache was missing...
    let plan = plan_attic(&desired, &AtticObserved::default(), now());
    assert_eq!(plan.len(), 3);
    // ...and someone else creates it, with other settings, before we do.
    let (status, _) = double.http(
        "POST",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"keypair": "Generate", "is_public": true, "store_dir": "/nix/store", "priority": 5, "upstream_cache_key_names": ["cache.nixos.org-1"]}"#,
    );
    assert_eq!(status, 200);

    let client = forge::adapters::attic::AtticClient::new(
        &double.endpoint(),
        Some(forge::secret::Secret::new(setup.admin.clone())),
    );
    let mut lines = Vec::new();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(execute(
            Some(&client),
            &desired,
            &plan,
            &now,
            &mut |change, note| lines.push(format!("{} -- {note:?}", change.display())),
        ))
        .unwrap();
    assert!(
        lines[0].starts_with("POST ") && lines[0].ends_with("-- Some(\"already exists\")"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("PATCH /_api/v1/cache-config/main {is_public: true -> false, priority: 5 -> 40, retention_period: Global -> 30d}"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("mint token for ci"), "{lines:?}");
    assert_eq!(lines.len(), 3, "the planned PATCH is replaced, not run too");
    expect_code(&setup.run(&["plan", "--check"]), 0);
}

#[test]
fn a_server_that_comes_up_late_is_waited_for() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("attic.yaml");
    std::fs::write(
        &spec,
        format!("server: {{endpoint: \"http://127.0.0.1:{port}\", token_env: ATTIC_ADMIN_TOKEN}}\ncaches:\n  - {{name: late, priority: 12}}\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["attic", "apply", "--wait", "20", "--config"])
        .arg(&spec)
        .env("ATTIC_ADMIN_TOKEN", admin_token())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let double = Double::start_on(port, &[]);
    let out = child.wait_with_output().unwrap();
    expect_code(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("waiting for Attic at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stdout.contains("POST /_api/v1/cache-config/late"),
        "{stdout}"
    );
    let (_, body) = double.http("GET", "/_api/v1/cache-config/late", &admin_token(), "");
    assert!(body.contains("\"priority\": 12"), "{body}");

    // Without a server, the wait is bounded and the error says where.
    drop(double);
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_forge-provision"))
        .args(["attic", "plan", "--wait", "1", "--config"])
        .arg(&spec)
        .env("ATTIC_ADMIN_TOKEN", admin_token())
        .output()
        .unwrap();
    expect_code(&out, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&out)
            .1
            .contains("reading the configuration of cache `late`"),
        "{}",
        text(&out).1
    );
}

#[test]
fn tokens_alone_need_no_server_and_secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hs256.b64"), format!("{SECRET_B64}\n")).unwrap();
    let spec = dir.path().join("attic.yaml");
    std::fs::write(
        &spec,
        "tokens:\n  - subject: reader\n    validity: 12h\n    secret_file: hs256.b64\n    permissions: { \"team-*\": [pull] }\n    output_file: out/reader.token\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_forge-provision"))
            .arg("attic")
            .args(args)
            .arg("--config")
            .arg(&spec)
            .output()
            .unwrap()
    };
    let out = run(&["apply"]);
    expect_code(&out, 0);
    assert!(
        text(&out).0.contains("mint token for reader -> "),
        "{}",
        text(&out).0
    );
    let token = std::fs::read_to_string(dir.path().join("out/reader.token")).unwrap();
    assert_eq!(
        claims(&token)["https://jwt.attic.rs/v1"]["caches"],
        serde_json::json!({"team-*": {"r": 1}})
    );
    expect_code(&run(&["plan", "--check"]), 0);
    // The double accepts it for a cache the pattern matches, and only to read.
    let double = Double::start(&["team-a"]);
    let (status, _) = double.http("GET", "/_api/v1/cache-config/team-a", token.trim(), "");
    assert_eq!(status, 200);
    let (status, _) = double.http("GET", "/_api/v1/cache-config/other", token.trim(), "");
    assert_eq!(status, 403);
}

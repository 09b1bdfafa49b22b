//! `forge serve` on 127.0.0.1 over a real ledger (a release run recorded
//! by `forge orchestrate-release`, one crashed mid-step) and a real GitOps
//! repository, asked with reqwest: health, the status snapshot (the same
//! model as `forge status --json`), releases and audit pages, runs with what
//! they wait on, metrics, the dashboard pages, JSON errors for unknown ids
//! and bad parameters, the token, and the refusal of a bare public bind.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::release_local::Fleet;
use crate::support::{forge, stderr};

/// A `forge serve` child, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    token: Option<String>,
    /// The server's stderr.
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("forge serve's log:\n{}", self.log_text());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    fn start(fleet: &Fleet, token: Option<&str>) -> Server {
        let mut c = forge();
        c.arg("serve")
            .arg("--config")
            .arg(fleet.path("deploy.yaml"));
        if let Some(t) = token {
            let file = fleet.path("token");
            std::fs::write(&file, format!("{t}\n")).unwrap();
            c.arg("--token-file").arg(file);
        }
        Server::spawn(c, token)
    }

    /// Starts `forge serve …` (`command`, without `--listen`) on a free
    /// loopback port, refreshing every second, and waits until it is ready.
    pub(crate) fn spawn(mut command: Command, token: Option<&str>) -> Server {
        let port = forge_testkit::free_port();
        let log = std::env::temp_dir().join(format!("forge-serve-{port}.log"));
        command
            .args(["--listen", &format!("127.0.0.1:{port}"), "--refresh", "1s"])
            .env_remove("FORGE_LEDGER")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let server = Server {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            token: token.map(str::to_owned),
            log,
        };
        server.wait_ready();
        server
    }

    /// SIGTERM (as systemd stops it); the exit status within 10 s.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "forge serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = self.get("/readyz") {
                return;
            }
            assert!(Instant::now() < deadline, "forge serve never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET `path`: status and body text.
    pub(crate) fn get(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        self.get_with(path, self.token.as_deref())
    }

    fn get_with(&self, path: &str, token: Option<&str>) -> Result<(u16, String), reqwest::Error> {
        let url = format!("{}{path}", self.base);
        runtime().block_on(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?;
            let mut request = client.get(url);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok((status, response.text().await?))
        })
    }

    pub(crate) fn json(&self, path: &str, want: u16) -> Value {
        let (status, body) = self.get(path).unwrap();
        assert_eq!(status, want, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn released() -> (Fleet, String, String) {
    let fleet = Fleet::with_services("  app: {}\n  lib:\n    depends_on: [app]\n");
    let (out, run) = fleet.run(&["orchestrate-release", "app", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = run["run"].as_str().unwrap().to_owned();
    let release = run["release"].as_str().unwrap().to_owned();
    (fleet, id, release)
}

#[test]
fn the_api_serves_status_releases_runs_audit_metrics_and_pages() {
    let (fleet, run, release) = released();
    let server = Server::start(&fleet, None);
    let (status, body) = server.get("/healthz").unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // The same model as `forge status --json`.
    let api = server.json("/api/v1/status", 200);
    let (out, cli) = fleet.run(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(api["schema"], "forge.status/v1");
    let view = |v: &Value| -> Vec<(String, String, String)> {
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    format!(
                        "{}/{}",
                        t["service"].as_str().unwrap(),
                        t["environment"].as_str().unwrap()
                    ),
                    t["drift"].as_str().unwrap().to_owned(),
                    t["explanation"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(view(&api), view(&cli));
    assert_eq!(api["summary"]["in-sync"], 2, "{api}");

    // Releases by page: one release, so the second page is empty.
    let page = server.json("/api/v1/releases?limit=1", 200);
    assert_eq!(page["schema"], "forge.releases/v1");
    assert_eq!(page["releases"][0]["id"], release.as_str());
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = server.json(&format!("/api/v1/releases?limit=1&cursor={cursor}"), 200);
    assert_eq!(next["releases"].as_array().unwrap().len(), 0);
    assert!(next["next_cursor"].is_null());
    let one = server.json(&format!("/api/v1/releases/{release}"), 200);
    assert_eq!(one["runs"][0]["id"], run.as_str());
    assert!(one["release"]["services"]["app"]["pinned_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    // A run with its steps, waiting on nothing.
    let r = server.json(&format!("/api/v1/runs/{run}"), 200);
    assert_eq!(r["run"]["state"], "succeeded");
    assert_eq!(r["steps"].as_array().unwrap().len(), 8, "{r}");
    assert_eq!(r["waiting_on"].as_array().unwrap().len(), 0);

    // The audit log by page and by time.
    let audit = server.json("/api/v1/audit?limit=2", 200);
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 1);
    assert!(events[0]["hash"].is_string());
    let after = audit["next_after"].as_i64().unwrap();
    let rest = server.json(&format!("/api/v1/audit?after={after}&limit=500"), 200);
    assert!(rest["events"][0]["seq"].as_i64().unwrap() == after + 1);
    let future = server.json("/api/v1/audit?since=2999-01-01T00:00:00Z", 200);
    assert_eq!(future["events"].as_array().unwrap().len(), 0);

    // Unknown ids and bad parameters: JSON errors.
    for (path, code) in [
        ("/api/v1/runs/run-0123-abcd", 404),
        ("/api/v1/runs/not-a-run", 404),
        ("/api/v1/releases/rel-0000", 404),
        ("/api/v1/releases?limit=0", 400),
        ("/api/v1/releases?limit=many", 400),
        ("/api/v1/releases?cursor=garbage", 400),
        ("/api/v1/releases?colour=red", 400),
        ("/api/v1/audit?since=yesterday", 400),
        ("/api/v1/audit?after=-1", 400),
        ("/api/v1/nothing", 404),
    ] {
        let e = server.json(path, code);
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}: {e}"
        );
        assert!(e["error"]["code"].is_string(), "{path}: {e}");
    }

    // Metrics in the Prometheus text format.
    let (status, metrics) = server.get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("forge_runs{state=\"succeeded\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("forge_releases 1\n"), "{metrics}");
    assert!(
        metrics.contains("forge_drift{service=\"app\",environment=\"dev\",state=\"in-sync\"} 1\n")
    );
    assert!(
        metrics.contains("forge_drift{service=\"app\",environment=\"dev\",state=\"failed\"} 0\n")
    );
    assert!(metrics.contains("forge_deploys{environment=\"dev\",outcome=\"succeeded\"} 2\n"));
    assert!(
        metrics.contains("forge_step_duration_seconds_count{action=\"build\"} 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "forge_last_successful_deploy_timestamp_seconds{service=\"lib\",environment=\"dev\"} "
    ));

    // The pages, without JavaScript.
    let (status, html) = server.get("/").unwrap();
    assert_eq!(status, 200);
    assert!(html.contains("<td class=\"in-sync\""), "{html}");
    assert!(html.contains("data-target=\"app/dev\""), "{html}");
    assert!(html.contains(&format!("href=\"/runs/{run}\"")), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let (status, page) = server.get(&format!("/runs/{run}")).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("app/dev/pin") && page.contains("Waiting on nothing."),
        "{page}"
    );
    let (status, _) = server.get("/runs/run-0123-abcd").unwrap();
    assert_eq!(status, 404);
    assert!(
        page.contains(&format!("href=\"/releases/{release}\"")),
        "{page}"
    );
    let (status, rel) = server.get(&format!("/releases/{release}")).unwrap();
    assert_eq!(status, 200);
    assert!(
        rel.contains(&format!("href=\"/runs/{run}\"")) && rel.contains("sha256:"),
        "{rel}"
    );
    assert_eq!(server.get("/releases/rel-0000").unwrap().0, 404);
}

#[test]
fn a_crashed_run_shows_the_step_it_waits_on() {
    let fleet = Fleet::with_services("  app: {}\n");
    let out = fleet
        .forge_cmd(&["orchestrate-release", "app", "--env", "dev"])
        .env("FORGE_CRASH_AT", "app/dev/pin:before")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the crash point should abort the run"
    );
    let run = fleet.newest_run()["id"].as_str().unwrap().to_owned();
    let server = Server::start(&fleet, None);
    let r = server.json(&format!("/api/v1/runs/{run}"), 200);
    assert_eq!(r["run"]["state"], "running", "{r}");
    assert_eq!(r["waiting_on"][0], "app/dev/pin", "{r}");
    let (_, page) = server.get(&format!("/runs/{run}")).unwrap();
    assert!(
        page.contains("Waiting on: <strong>app/dev/pin</strong>"),
        "{page}"
    );
    let (_, html) = server.get("/").unwrap();
    assert!(html.contains("app/dev/pin (waiting)"), "{html}");
    let (_, metrics) = server.get("/metrics").unwrap();
    assert!(
        metrics.contains("forge_steps_running{action=\"pin\"} 1\n"),
        "{metrics}"
    ); // Stopped as systemd stops it: at once, and successfully.
    let mut server = server;
    assert!(server.terminate().success(), "{}", server.log_text());
}

#[test]
fn a_token_guards_everything_but_healthz_and_a_public_bind_needs_one() {
    let (fleet, _, _) = released();
    let server = Server::start(&fleet, Some("s3cret-token"));
    assert_eq!(server.get_with("/healthz", None).unwrap().0, 200);
    for path in ["/api/v1/status", "/metrics", "/", "/readyz"] {
        let (status, body) = server.get_with(path, None).unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("s3cret-token"));
        assert_eq!(
            server.get_with(path, Some("wrong")).unwrap().0,
            401,
            "{path}"
        );
    }
    let (status, body) = server.get("/api/v1/status").unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("s3cret-token"));

    // Any address but loopback without a token: refused before binding.
    let port = forge_testkit::free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args(["serve", "--listen", &format!("0.0.0.0:{port}"), "--config"])
        .arg(fleet.path("deploy.yaml"))
        .env_remove("FORGE_LEDGER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refusing to serve on 0.0.0.0:") && err.contains("--token-file"),
        "{err}"
    );
}

/// A webhook receiver on loopback: answers the first request 500 (the
/// sender must retry), the others 200, and keeps the bodies.
struct Receiver {
    port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let status = if n == 0 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                if n > 0 {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        kept.lock().unwrap().push(v);
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, bodies }
    }

    fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

#[test]
fn release_events_reach_the_webhooks_with_a_retry_and_no_secret_in_the_log() {
    let fleet = Fleet::with_services("  app: {}\n");
    // The ledger exists before the server (a first release), whose events
    // are history: not sent.
    let (out, history) = fleet.run(&["orchestrate-release", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let old = history["run"].as_str().unwrap().to_owned();
    let receiver = Receiver::start();
    let hook = format!(
        "http://127.0.0.1:{}/services/T0/B0/hook-secret-xyzzy",
        receiver.port
    );
    let mut command = forge();
    command
        .args(["serve", "--webhook", &hook, "--attempts", "3", "--config"])
        .arg(fleet.path("deploy.yaml"));
    let server = Server::spawn(command, None);

    let (out, run) = fleet.run(&["orchestrate-release", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = run["run"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let want_end = format!("forge: run {id} succeeded");
    while !receiver.texts().iter().any(|t| t.starts_with(&want_end)) {
        assert!(Instant::now() < deadline, "got {:?}", receiver.texts());
        std::thread::sleep(Duration::from_millis(200));
    }
    let texts = receiver.texts();
    let started = format!("forge: run {id} started: app to dev (by ");
    assert!(texts.iter().any(|t| t.starts_with(&started)), "{texts:?}");
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains(&id) && t.contains("started"))
            .count(),
        1,
        "{texts:?}"
    );
    // The first run's events were history: not sent.
    assert!(texts.iter().all(|t| !t.contains(&old)), "{texts:?}");
    let log = server.log_text();
    assert!(log.contains("retrying"), "the 500 was retried: {log}");
    assert!(!log.contains("hook-secret-xyzzy"), "{log}");
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert!(bodies
        .iter()
        .all(|b| b["event"]["seq"].is_i64() && b.get("before").is_none()));
}

//! Progress that arrives while a command runs (timestamped lines without a
//! terminal, JSON events, a live view under a pseudo-terminal, release-run
//! step transitions), `-q`, NO_COLOR, and GitHub Actions (`::group::`,
//! `::error::` with file and line, `$GITHUB_OUTPUT`, the job summary) for
//! success, failures at several steps and a configuration error.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli_contract::{json, plain_forge, Setup, SHA};
use crate::support::{forge, stderr, stdout};

#[test]
fn github_actions_get_an_annotation_outputs_and_a_summary_when_the_config_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("deploy.yaml");
    std::fs::write(&bad, "registry: r\nservices:\n  app: {imag: {}}\n").unwrap();
    let (output, summary) = (tmp.path().join("output"), tmp.path().join("summary"));
    let out = forge()
        .args(["deploy", "app", "--env", "dev", "--config"])
        .arg(&bad)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("FORGE_PROGRESS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let annotation = format!(
        "::error file={},line=3,col=",
        bad.to_str().unwrap().replace(':', "%3A")
    );
    assert!(err.contains(&annotation), "{err}");
    assert!(err.contains("title=forge deploy::"), "{err}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.contains("result=usage_error\n") && outputs.contains("exit_code=2\n"),
        "{outputs}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("forge deploy") && summary.contains("imag"),
        "{summary}"
    );
}

/// GITHUB_* variables for a temp dir; returns (outputs file, summary file).
fn github(cmd: &mut Command, dir: &Path) -> (PathBuf, PathBuf) {
    let (output, summary) = (dir.join("gh-output"), dir.join("gh-summary"));
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary);
    (output, summary)
}

/// `name=value` lines of `$GITHUB_OUTPUT`.
fn outputs(file: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_deploy_in_github_actions_groups_its_steps_and_writes_its_outputs() {
    let s = Setup::new(None);
    let mut cmd = s.forge(&["--json", "deploy", "app", "--env", "dev"]);
    let (output, summary) = github(&mut cmd, s.tmp.path());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["schema"], "forge.deploy/v1", "{report}");
    let err = stderr(&out);
    let opened = err.matches("::group::").count();
    assert!(opened >= 2, "{err}");
    assert_eq!(opened, err.matches("::endgroup::").count(), "{err}");
    assert!(!err.contains("::error"), "{err}");
    let o = outputs(&output);
    assert_eq!(o["result"], "deployed", "{o:?}");
    assert_eq!(o["exit_code"], "0");
    assert_eq!(o["image"], report["image"].as_str().unwrap());
    assert!(
        o["digest"].starts_with("sha256:") && o["image"].ends_with(&o["digest"]),
        "{o:?}"
    );
    assert!(
        o["tag"].ends_with(&SHA[..7]) && o["image"].contains(&o["tag"]),
        "{o:?}"
    );
    assert_eq!(o["commit"], report["commit"].as_str().unwrap());
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("deployed"));

    // A failing step: an annotation, result=failed, still a summary.
    let yaml = std::fs::read_to_string(s.path("deploy.yaml"))
        .unwrap()
        .replace("repo: ./gitops.git", "repo: ./missing.git")
        .replace("clone_dir: ./clone", "clone_dir: ./clone-missing");
    std::fs::write(s.path("deploy.yaml"), yaml).unwrap();
    std::fs::remove_file(&output).unwrap();
    let mut cmd = s.forge(&["deploy", "app", "--env", "dev"]);
    github(&mut cmd, s.tmp.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("::error title=forge deploy app to dev::"),
        "{err}"
    );
    assert!(err.contains("missing.git"), "{err}");
    let o = outputs(&output);
    assert_eq!(
        (o["result"].as_str(), o["exit_code"].as_str()),
        ("failed", "1"),
        "{o:?}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("**failed**"));
}

/// A cache that accepts connections and never answers until dropped, so a
/// deploy stops at its cache step for as long as the test wants.
struct SilentCache {
    port: u16,
    stop: std::sync::mpsc::Sender<()>,
}

impl SilentCache {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            // Until the test drops `stop` (or sends on it).
            while let Err(std::sync::mpsc::TryRecvError::Empty) = stopped.try_recv() {
                if let Ok((conn, _)) = listener.accept() {
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { port, stop }
    }
}

#[test]
fn without_a_terminal_each_step_is_printed_while_the_deploy_runs() {
    let cache = SilentCache::start();
    let s = Setup::new(Some(&format!("http://127.0.0.1:{}/c", cache.port)));
    let mut child = s
        .forge(&[
            "deploy",
            "app",
            "--env",
            "dev",
            "--attempts",
            "1",
            "--idle-timeout",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    // The build's line arrives while the deploy waits on the cache.
    loop {
        assert!(Instant::now() < deadline, "no build line: {seen:#?}");
        let line = lines.next().expect("stderr open").unwrap();
        seen.push(line.clone());
        if line.contains("build") && line.contains("done") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the deploy ended already: {seen:#?}"
    );
    let stamped = |l: &&String| {
        l.len() > 9 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':' && l.as_bytes()[8] == b' '
    };
    let started: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("started: building"))
        .collect();
    assert!(
        !started.is_empty() && started.iter().all(stamped),
        "{seen:#?}"
    );
    drop(cache.stop);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn progress_json_is_one_event_per_line_and_quiet_prints_nothing() {
    let s = Setup::new(None);
    let out = s
        .forge(&[
            "--progress",
            "json",
            "--json",
            "deploy",
            "app",
            "--env",
            "dev",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["schema"], "forge.deploy/v1");
    assert_eq!(report["result"], "planned");
    let events: Vec<Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(events
        .iter()
        .all(|e| e["schema"] == "forge.event/v1" && e["elapsed_seconds"].is_number()));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"started") && kinds.contains(&"finished"),
        "{kinds:?}"
    );
    // The image build counts its layers up to the total.
    let layers: Vec<&Value> = events.iter().filter(|e| e["event"] == "counted").collect();
    let last = layers.last().expect("counted events");
    assert_eq!(
        (last["what"].as_str(), last["done"].as_u64()),
        (Some("layers"), last["total"].as_u64()),
        "{layers:?}"
    );
    assert!(
        events.iter().any(|e| e["event"] == "step_recorded"
            && e["step"] == "build"
            && e["status"] == "done"),
        "{events:#?}"
    );

    let out = s
        .forge(&["-q", "deploy", "app", "--env", "dev", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "-q");
    assert!(stdout(&out).contains("result: dry run"));
}

#[test]
fn under_a_pseudo_terminal_the_live_view_draws_in_place() {
    let s = Setup::new(None);
    let command = format!(
        "{} deploy app --env dev --dry-run --config {} 2>&1",
        env!("CARGO_BIN_EXE_forge"),
        s.path("deploy.yaml").display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("FORGE_GIT_SHA", SHA)
        .env("FORGE_CACHE_DIR", s.path("layers"))
        .env("NIX_CONFIG", crate::support::NIX_CONFIG)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("FORGE_PROGRESS")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    // Spinners redraw in place (erase line), step lines scroll above them;
    // no plain "started:" lines.
    assert!(text.contains("\u{1b}[2K"), "{text:?}");
    assert!(
        text.contains("build ") && text.contains("result: dry run"),
        "{text}"
    );
    assert!(!text.contains("started: building"), "{text}");
}

#[test]
fn log_lines_follow_no_color_and_clicolor_force() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let run = |no_color: Option<&str>| {
        let mut c = plain_forge();
        c.args(["health", "--allow-empty", "--file"])
            .arg(&empty)
            .env("CLICOLOR_FORCE", "1");
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let coloured = run(None);
    assert!(
        coloured.contains("no objects") && coloured.contains("\u{1b}["),
        "{coloured:?}"
    );
    let plain = run(Some("1"));
    assert!(
        plain.contains("no objects") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}

#[test]
fn github_actions_annotate_a_failed_build_and_a_failed_cache_push() {
    // The build: an attribute whose evaluation fails.
    let s = Setup::new(None);
    let yaml = std::fs::read_to_string(s.path("deploy.yaml"))
        .unwrap()
        .replace("  app: {}\n", "  app:\n    attr: evalerror\n");
    std::fs::write(s.path("deploy.yaml"), yaml).unwrap();
    let mut cmd = s.forge(&["deploy", "app", "--env", "dev"]);
    let (output, summary) = github(&mut cmd, s.tmp.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("::error title=forge deploy app to dev::"),
        "{err}"
    );
    assert!(err.contains("deliberate evaluation error"), "{err}");
    assert_eq!(outputs(&output)["result"], "failed");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| build | FAILED |"), "{md}");

    // The cache: a server that accepts and never answers, one attempt of 2 s.
    let cache = SilentCache::start();
    let s = Setup::new(Some(&format!("http://127.0.0.1:{}/c", cache.port)));
    let mut cmd = s.forge(&[
        "deploy",
        "app",
        "--env",
        "dev",
        "--attempts",
        "1",
        "--idle-timeout",
        "2s",
    ]);
    let (output, summary) = github(&mut cmd, s.tmp.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("::error title=forge deploy app to dev::")
            && err.contains("no answer from 127.0.0.1"),
        "{err}"
    );
    let o = outputs(&output);
    assert_eq!(
        (o["result"].as_str(), o.get("image")),
        ("failed", None),
        "{o:?}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("| cache | FAILED |"));
    assert_eq!(
        err.matches("::group::").count(),
        err.matches("::endgroup::").count(),
        "{err}"
    );
}

#[test]
fn release_run_steps_are_shown_as_they_change_in_every_mode() {
    let fleet = crate::release_local::Fleet::new();
    let out = fleet
        .forge_cmd(&[
            "--progress",
            "plain",
            "orchestrate-release",
            "app",
            "lib",
            "--env",
            "dev",
        ])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for key in ["app/dev/build", "lib/dev/pin"] {
        let running = err
            .lines()
            .position(|l| l.ends_with(&format!("{key}: running")));
        let ended = err
            .lines()
            .position(|l| l.contains(&format!("{key}: succeeded in ")));
        assert!(
            matches!((running, ended), (Some(r), Some(e)) if r < e),
            "{key}:\n{err}"
        );
    }

    // One JSON event per transition.
    let fleet = crate::release_local::Fleet::new();
    let out = fleet
        .forge_cmd(&[
            "--progress",
            "json",
            "orchestrate-release",
            "app",
            "--env",
            "dev",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let steps: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "step")
        .collect();
    let states: Vec<(&str, &str)> = steps
        .iter()
        .filter(|e| e["key"] == "app/dev/build")
        .map(|e| (e["key"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("app/dev/build", "running"), ("app/dev/build", "succeeded")],
        "{steps:#?}"
    );
}

#[test]
fn warnings_are_annotations_in_github_actions() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let out = forge()
        .args(["health", "--allow-empty", "--file"])
        .arg(&empty)
        .env("GITHUB_ACTIONS", "true")
        .env_remove("FORGE_PROGRESS")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let annotation = format!("::warning::{}: no objects", empty.display());
    assert!(err.lines().any(|l| l == annotation), "{err}");
    // Outside a job the same warning is a log line only.
    let out = plain_forge()
        .args(["health", "--allow-empty", "--file"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("::warning::"), "{}", stderr(&out));
}

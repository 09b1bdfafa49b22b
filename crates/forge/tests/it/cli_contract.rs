//! The everyday contract of the CLI: one exit-status table, the `--json`
//! documents (`schema`, snake_case, the `forge.error/v1` error object),
//! progress that arrives while a command runs (plain lines, JSON events, a
//! live view under a pseudo-terminal), and GitHub Actions (`::group::`,
//! `::error::` with file and line, `$GITHUB_OUTPUT`, the job summary).

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::{forge, stderr, stdout, Flake};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// deploy.yaml for one service `app` (a `file://` cache unless `cache` is
/// given, an oci: layout registry, a bare GitOps repository, no cluster).
struct Setup {
    tmp: tempfile::TempDir,
    flake: Flake,
}

impl Setup {
    fn new(cache: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let flake = Flake::basic();
        let bare = tmp.path().join("gitops.git");
        git(tmp.path(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
        let seed = tmp.path().join("seed");
        std::fs::create_dir_all(seed.join("apps/app")).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(
            seed.join("apps/app/kustomization.yaml"),
            "kind: Kustomization\nimages:\n  - name: ./images/app\n    newTag: v0\n",
        )
        .unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(&seed, &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"]);
        let cache = cache.map_or("file://./cache".to_owned(), str::to_owned);
        let yaml = format!(
            "flake: path:{}\ncache:\n  url: {cache}\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nenvironments:\n  dev:\n    cluster: false\n    kustomization: apps/{{service}}/kustomization.yaml\nservices:\n  app: {{}}\n",
            flake.dir.path().display()
        );
        std::fs::write(tmp.path().join("deploy.yaml"), yaml).unwrap();
        Self { tmp, flake }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn forge(&self, args: &[&str]) -> Command {
        let mut c = forge();
        c.args(args)
            .arg("--config")
            .arg(self.path("deploy.yaml"))
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.path("layers"))
            .env_remove("GITHUB_ACTIONS")
            .env_remove("FORGE_PROGRESS");
        c
    }
}

/// `forge` outside any GitHub Actions job.
fn plain_forge() -> Command {
    let mut c = forge();
    c.env_remove("GITHUB_ACTIONS").env_remove("FORGE_PROGRESS");
    c
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", stdout(out)))
}

#[test]
fn a_missing_or_invalid_deploy_yaml_is_status_2_with_a_json_error_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.yaml");
    let missing = missing.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["deploy", "app", "--env", "dev"],
        &["push", "app"],
        &["rollback", "app", "--env", "dev"],
        &["config", "validate"],
        &["rollout", "app", "--env", "dev"],
        &["flux-reconcile", "--env", "dev"],
    ];
    for args in commands {
        let out = plain_forge()
            .arg("--json")
            .args(args)
            .args(["--config", missing])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["schema"], "forge.error/v1", "{args:?}: {v}");
        assert_eq!(v["exit_code"], 2, "{v}");
        assert_eq!(v["result"], "usage_error", "{v}");
        assert_eq!(v["command"], args[..if args[0] == "config" { 2 } else { 1 }].join(" "));
        assert!(v["message"].as_str().unwrap().contains("missing.yaml"), "{v}");
        assert!(!v["causes"].as_array().unwrap().is_empty(), "{v}");
        assert!(stderr(&out).contains("error: reading"), "{}", stderr(&out));
    }

    // An invalid file: the error object says where.
    let bad = tmp.path().join("deploy.yaml");
    std::fs::write(&bad, "registry: r\nservices:\n  app: {}\nenvironmnts: {}\n").unwrap();
    let out = plain_forge()
        .args(["--json", "deploy", "app", "--env", "dev", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!((v["line"].as_u64(), v["column"].as_u64()), (Some(4), Some(1)), "{v}");
    assert_eq!(v["file"], bad.to_str().unwrap(), "{v}");
    assert!(v["message"].as_str().unwrap().contains("environments"), "{v}");

    // Without --json nothing is on stdout.
    let out = plain_forge()
        .args(["deploy", "app", "--env", "dev", "--config", missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
}

#[test]
fn usage_errors_are_2_and_every_help_carries_the_table() {
    // clap's own usage errors, and ours after parsing.
    let out = plain_forge().args(["deploy", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = plain_forge().args(["flux-reconcile"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for args in [&["--help"][..], &["deploy", "--help"], &["release", "resume", "--help"]] {
        let out = plain_forge().args(args).output().unwrap();
        assert!(out.status.success());
        let help = stdout(&out);
        for line in forge_core::exit_status::TABLE.lines() {
            assert!(help.contains(line), "{args:?} lacks {line:?}:\n{help}");
        }
    }
}

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
    assert!(outputs.contains("result=usage_error\n") && outputs.contains("exit_code=2\n"), "{outputs}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("forge deploy") && summary.contains("imag"), "{summary}");
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
    assert!(o["digest"].starts_with("sha256:") && o["image"].ends_with(&o["digest"]), "{o:?}");
    assert!(o["tag"].ends_with(&SHA[..7]) && o["image"].contains(&o["tag"]), "{o:?}");
    assert_eq!(o["commit"], report["commit"].as_str().unwrap());
    assert!(std::fs::read_to_string(&summary).unwrap().contains("deployed"));

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
    assert!(err.contains("::error title=forge deploy app to dev::"), "{err}");
    assert!(err.contains("missing.git"), "{err}");
    let o = outputs(&output);
    assert_eq!((o["result"].as_str(), o["exit_code"].as_str()), ("failed", "1"), "{o:?}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("**failed**"));
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
            while stopped.try_recv().is_err() {
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
        .forge(&["deploy", "app", "--env", "dev", "--attempts", "1", "--idle-timeout", "60s"])
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
    assert!(child.try_wait().unwrap().is_none(), "the deploy ended already: {seen:#?}");
    let stamped = |l: &&String| {
        l.len() > 9 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':' && l.as_bytes()[8] == b' '
    };
    let started: Vec<&String> = seen.iter().filter(|l| l.contains("started: building")).collect();
    assert!(!started.is_empty() && started.iter().all(stamped), "{seen:#?}");
    drop(cache.stop);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn progress_json_is_one_event_per_line_and_quiet_prints_nothing() {
    let s = Setup::new(None);
    let out = s
        .forge(&["--progress", "json", "--json", "deploy", "app", "--env", "dev", "--dry-run"])
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
    assert!(events.iter().all(|e| e["schema"] == "forge.event/v1" && e["elapsed_seconds"].is_number()));
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"started") && kinds.contains(&"finished"), "{kinds:?}");
    // The image build counts its layers up to the total.
    let layers: Vec<&Value> = events.iter().filter(|e| e["event"] == "counted").collect();
    let last = layers.last().expect("counted events");
    assert_eq!((last["what"].as_str(), last["done"].as_u64()), (Some("layers"), last["total"].as_u64()), "{layers:?}");
    assert!(
        events.iter().any(|e| e["event"] == "step_recorded" && e["step"] == "build" && e["status"] == "done"),
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
    assert!(text.contains("build ") && text.contains("result: dry run"), "{text}");
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
    assert!(coloured.contains("no objects") && coloured.contains("\u{1b}["), "{coloured:?}");
    let plain = run(Some("1"));
    assert!(plain.contains("no objects") && !plain.contains('\u{1b}'), "{plain:?}");
}

#[test]
fn push_takes_the_oci_repository_deploy_takes_and_the_flakes_revision() {
    let s = Setup::new(None);
    let out = s.forge(&["--json", "push", "app"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "forge.push/v1", "{v}");
    let tag = v["tag"].as_str().unwrap();
    assert!(tag.ends_with(&SHA[..7]), "{v}");
    let inspect = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}:{tag}", v["layout"].as_str().unwrap())])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let seen: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(seen["Digest"], v["digest"]);

    // No revision anywhere: an error naming the way out, not a silent `latest`.
    let without_sha = |c: &mut Command| {
        c.env_remove("FORGE_GIT_SHA")
            .env_remove("GITHUB_SHA")
            .env_remove("CI_COMMIT_SHA");
    };
    let mut cmd = s.forge(&["push", "app"]);
    without_sha(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("FORGE_GIT_SHA") && err.contains("not in a git checkout"), "{err}");

    // deploy.yaml's directory and the flake are different repositories: the
    // flake's commit names the image.
    let commit = |dir: &Path| {
        git(dir, &["init", "-q"]);
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "x"]);
        git(dir, &["rev-parse", "HEAD"])
    };
    let config_sha = commit(s.tmp.path());
    let flake_sha = commit(s.flake.dir.path());
    assert_ne!(config_sha, flake_sha);
    let mut cmd = s.forge(&["--json", "push", "app"]);
    without_sha(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tag = json(&out)["tag"].as_str().unwrap().to_owned();
    assert!(tag.ends_with(&flake_sha[..7]), "{tag} vs flake {flake_sha}");
}

#[test]
fn every_documented_code_is_a_known_status_and_in_each_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args(["man", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // forge-provision's --help is checked in its own suite.
    for line in forge_core::exit_status::TABLE.lines().skip(1) {
        let code: u8 = line.trim().split(' ').next().unwrap().parse().unwrap();
        assert!(forge_core::exit_status::ExitStatus::from_code(code).is_some(), "{line}");
        assert!(stdout(&out).contains(line), "{line}");
    }
}

#[test]
fn a_registry_name_that_does_not_resolve_is_not_retried() {
    let s = Setup::new(None);
    let out = s.forge(&["--json", "push", "app"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let source = format!("oci:{}:{}", v["layout"].as_str().unwrap(), v["tag"].as_str().unwrap());
    let started = Instant::now();
    let out = plain_forge()
        .args(["image", "push", &source, "--repo", "registry.nonexistent.invalid/app"])
        .args(["--attempts", "6", "--tag", "t"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Six attempts with backoff took about 10 s; one takes milliseconds.
    assert!(took < Duration::from_secs(3), "took {took:?}: {}", stderr(&out));
    assert!(stderr(&out).contains("registry.nonexistent.invalid"), "{}", stderr(&out));
}

/// The example workflow is one a team can copy: Forge pinned to a commit,
/// the deploy step with an `id` whose outputs (only ones Forge writes) a
/// later step reads, a concurrency group per environment; and actionlint
/// accepts it when it is installed (`go install github.com/rhysd/actionlint/cmd/actionlint`).
#[test]
fn the_github_actions_example_is_pinned_and_uses_the_outputs_forge_writes() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/github-actions/deploy.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let forge_ref = doc["env"]["FORGE"].as_str().unwrap();
    let rev = forge_ref.split('#').next().unwrap().rsplit('/').next().unwrap();
    assert!(rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()), "{forge_ref}");
    assert!(doc["concurrency"]["group"].as_str().unwrap().contains("environment"));
    let steps = doc["jobs"]["deploy"]["steps"].as_sequence().unwrap();
    let deploy = steps.iter().find(|s| s["id"] == "deploy").expect("a step with id: deploy");
    assert!(deploy["run"].as_str().unwrap().contains("\"$FORGE\""));
    // Every output read is one Forge writes for a deploy.
    let written = ["image", "tag", "digest", "commit", "result", "exit_code", "service", "env"];
    let mut read = 0;
    for (i, _) in text.match_indices("steps.deploy.outputs.") {
        let name: String = text[i + "steps.deploy.outputs.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(written.contains(&name.as_str()), "{name} is not an output of forge deploy");
        read += 1;
    }
    assert!(read >= 4, "{read}");
    let actionlint = std::env::var_os("FORGE_ACTIONLINT").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p).map(|d| d.join("actionlint")).find(|f| f.is_file())
        })
    });
    if let Some(bin) = actionlint {
        let out = Command::new(bin)
            .args(["-shellcheck=", "-pyflakes="])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
}

/// Every key Forge chose is snake_case: everything but maps keyed by the
/// user's or another format's names (`outputs`, OCI `manifest`, labels, env).
fn assert_snake_case(v: &Value, at: &str) {
    const FOREIGN: [&str; 6] = ["outputs", "manifest", "labels", "env", "installables", "annotations"];
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let ok = k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                assert!(ok, "{at}.{k} is not snake_case");
                if !FOREIGN.contains(&k.as_str()) {
                    assert_snake_case(child, &format!("{at}.{k}"));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| assert_snake_case(i, &format!("{at}[]"))),
        _ => {}
    }
}

#[test]
fn every_json_document_has_a_schema_and_snake_case_keys() {
    let s = Setup::new(None);
    let app = s.flake.build("app");
    let cache = format!("file://{}/c2", s.tmp.path().display());
    let health = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout/deployment.yaml");
    let runs: Vec<(&str, Command)> = vec![
        ("forge.build/v1", {
            let mut c = plain_forge();
            c.args(["--json", "build", &s.flake.installable("app")]);
            c
        }),
        ("forge.cache-push/v1", {
            let mut c = plain_forge();
            c.args(["--json", "cache", "push", "--dry-run", "--to", &cache, &app]);
            c
        }),
        ("forge.config/v1", s.forge(&["--json", "config", "validate"])),
        ("forge.deploy/v1", s.forge(&["--json", "deploy", "app", "--env", "dev", "--dry-run"])),
        ("forge.push/v1", s.forge(&["--json", "push", "app"])),
        ("forge.health/v1", {
            let mut c = plain_forge();
            c.args(["--json", "health", "--file"]).arg(&health);
            c
        }),
        ("forge.error/v1", s.forge(&["--json", "deploy", "nope", "--env", "dev"])),
    ];
    for (schema, mut cmd) in runs {
        let out = cmd.output().unwrap();
        let v = json(&out);
        assert_eq!(v["schema"], schema, "{cmd:?}: {v}");
        assert_snake_case(&v, schema);
    }
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
    assert!(err.contains("::error title=forge deploy app to dev::"), "{err}");
    assert!(err.contains("deliberate evaluation error"), "{err}");
    assert_eq!(outputs(&output)["result"], "failed");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| build | FAILED |"), "{md}");

    // The cache: a server that accepts and never answers, one attempt of 2 s.
    let cache = SilentCache::start();
    let s = Setup::new(Some(&format!("http://127.0.0.1:{}/c", cache.port)));
    let mut cmd = s.forge(&["deploy", "app", "--env", "dev", "--attempts", "1", "--idle-timeout", "2s"]);
    let (output, summary) = github(&mut cmd, s.tmp.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("::error title=forge deploy app to dev::") && err.contains("no answer from 127.0.0.1"), "{err}");
    let o = outputs(&output);
    assert_eq!((o["result"].as_str(), o.get("image")), ("failed", None), "{o:?}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("| cache | FAILED |"));
    assert_eq!(err.matches("::group::").count(), err.matches("::endgroup::").count(), "{err}");
}

#[test]
fn release_run_steps_are_shown_as_they_change_in_every_mode() {
    let fleet = crate::release_local::Fleet::new();
    let out = fleet
        .forge_cmd(&["--progress", "plain", "orchestrate-release", "app", "lib", "--env", "dev"])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for key in ["app/dev/build", "lib/dev/pin"] {
        let running = err.lines().position(|l| l.ends_with(&format!("{key}: running")));
        let ended = err
            .lines()
            .position(|l| l.contains(&format!("{key}: succeeded in ")));
        assert!(matches!((running, ended), (Some(r), Some(e)) if r < e), "{key}:\n{err}");
    }

    // One JSON event per transition.
    let fleet = crate::release_local::Fleet::new();
    let out = fleet
        .forge_cmd(&["--progress", "json", "orchestrate-release", "app", "--env", "dev"])
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
    assert_eq!(states, [("app/dev/build", "running"), ("app/dev/build", "succeeded")], "{steps:#?}");
}

//! The Kubernetes + Flux test environment of `scripts/testenv`: a real
//! kube-apiserver, controller-manager, scheduler, kwok (fake kubelet), Flux
//! source- and kustomize-controller, and a git server over HTTP, all on
//! 127.0.0.1.
//!
//! [`get`] starts it once per test process (`scripts/testenv up`, which builds
//! the binaries the first time) and stops it at process exit; when
//! `KUBECONFIG` and `FORGE_TESTENV_GIT` are already exported (from a shell that
//! ran `eval "$(scripts/testenv up)"`), it attaches to that one instead and
//! leaves it running. `FORGE_TESTENV=off` skips the tests that need it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct TestEnv {
    pub kubeconfig: PathBuf,
    /// The directory with the built `kubectl` etc.; `None` when attached
    /// (then `kubectl` comes from the exported PATH).
    pub bin: Option<PathBuf>,
    /// Base URL of the git server, e.g. `http://127.0.0.1:PORT`; the bare
    /// repo `gitops.git` exists there.
    pub git: String,
}

static ENV: OnceLock<Result<Option<TestEnv>, String>> = OnceLock::new();
/// State dir of the environment this process started, for `down` at exit.
static OWNED_STATE: Mutex<Option<PathBuf>> = Mutex::new(None);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testenv")
}

/// The environment, or `None` (with a message) when `FORGE_TESTENV=off`.
/// Panics when it cannot be started.
pub fn get() -> Option<&'static TestEnv> {
    match ENV.get_or_init(init) {
        Ok(Some(env)) => Some(env),
        Ok(None) => {
            eprintln!("skipped: FORGE_TESTENV=off (Kubernetes test environment disabled)");
            None
        }
        Err(e) => panic!("Kubernetes test environment: {e}"),
    }
}

fn init() -> Result<Option<TestEnv>, String> {
    if std::env::var("FORGE_TESTENV").as_deref() == Ok("off") {
        return Ok(None);
    }
    if let (Ok(kubeconfig), Ok(git)) = (
        std::env::var("KUBECONFIG"),
        std::env::var("FORGE_TESTENV_GIT"),
    ) {
        return Ok(Some(TestEnv {
            kubeconfig: kubeconfig.into(),
            bin: None,
            git,
        }));
    }
    let state = std::env::temp_dir().join(format!("forge-testenv-it-{}", std::process::id()));
    *OWNED_STATE.lock().unwrap() = Some(state.clone());
    // SAFETY: registers a plain `extern "C" fn()` with the C library.
    unsafe { atexit(down_at_exit) };
    let started = Instant::now();
    // stderr is inherited: build and start-up progress shows in the test log.
    let out = Command::new("bash")
        .arg(script())
        .arg("up")
        .env("FORGE_TESTENV_STATE_DIR", &state)
        .env("FORGE_TESTENV_OWNER_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run scripts/testenv: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "`scripts/testenv up` failed ({}); its stderr is above.\nstdout:\n{stdout}",
            out.status
        ));
    }
    eprintln!("testenv: up in {:.1} s", started.elapsed().as_secs_f64());
    let export = |name: &str| -> Result<String, String> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_owned)
            .ok_or_else(|| format!("no `export {name}=` in the output of up:\n{stdout}"))
    };
    let path = export("PATH")?;
    let bin = path
        .strip_suffix(":$PATH")
        .ok_or_else(|| format!("unexpected PATH line: {path}"))?;
    Ok(Some(TestEnv {
        kubeconfig: export("KUBECONFIG")?.into(),
        bin: Some(bin.into()),
        git: export("FORGE_TESTENV_GIT")?,
    }))
}

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> i32;
}

extern "C" fn down_at_exit() {
    let Some(state) = OWNED_STATE.lock().ok().and_then(|s| s.clone()) else {
        return;
    };
    let _ = Command::new("bash")
        .arg(script())
        .arg("down")
        .env("FORGE_TESTENV_STATE_DIR", &state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&state);
}

impl TestEnv {
    /// The environment's own `kubectl`, pointed at it.
    pub fn kubectl(&self) -> Command {
        let program = match &self.bin {
            Some(bin) => bin.join("kubectl"),
            None => PathBuf::from("kubectl"),
        };
        let mut c = Command::new(program);
        c.env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// Runs kubectl with `args`; panics with its output when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("spawn kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn kubectl_out(&self, args: &[&str]) -> Output {
        self.kubectl().args(args).output().expect("spawn kubectl")
    }

    /// `kubectl apply -f -` with `yaml` on stdin.
    pub fn apply(&self, yaml: &str) -> String {
        use std::io::Write;
        let mut child = self
            .kubectl()
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply failed:\n{}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get ARGS -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("kubectl json")
    }

    /// A fresh namespace with a unique name starting with `prefix`.
    pub fn namespace(&self, prefix: &str) -> Namespace<'_> {
        let name = format!("{prefix}-{}", unique());
        self.kubectl_ok(&["create", "namespace", &name]);
        // Pods need the namespace's default ServiceAccount (made by the controller-manager).
        wait_for(Duration::from_secs(30), "default ServiceAccount", || {
            self.kubectl_out(&["get", "serviceaccount", "default", "-n", &name])
                .status
                .success()
                .then_some(())
        });
        Namespace { env: self, name }
    }
}

/// A namespace deleted (without waiting) when dropped.
pub struct Namespace<'a> {
    env: &'a TestEnv,
    pub name: String,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self
            .env
            .kubectl()
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

/// A short unique suffix (process id, time, counter).
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 100_000_000;
    format!(
        "{}-{t}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `f` every 250 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

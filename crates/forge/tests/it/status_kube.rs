//! `forge status` on the Kubernetes + Flux test environment, each drift
//! class produced for real: a release whose commit Flux has not applied
//! (git-ahead), the same applied and rolled out (in-sync), a hand `kubectl
//! set image` (cluster-drift), a commit pushed by hand to the GitOps branch
//! (ledger-stale), a cluster that does not answer (unknown), and a release
//! whose pods crash (failed).

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, wait_for, Namespace, TestEnv};
use crate::support::{forge, stderr, Flake};

const SHA: &str = "5555555555555555555555555555555555555555";
const HAND: &str = "sha256:7777777777777777777777777777777777777777777777777777777777777777";

pub(crate) struct Site {
    pub env: &'static TestEnv,
    pub ns: Namespace<'static>,
    pub url: String,
    pub branch: String,
    pub dir: tempfile::TempDir,
    flake: Flake,
}

impl Site {
    /// A namespace, a branch seeded with `apps/app`, the Flux objects
    /// `gitops` and `app`, and the seed applied.
    pub(crate) fn new(prefix: &str) -> Option<Self> {
        let env = testenv::get()?;
        let ns = env.namespace(prefix);
        let n = ns.name.clone();
        let branch = format!("status-{}", testenv::unique());
        let url = format!("{}/gitops.git", env.git);
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(seed.join("apps/app")).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(
            seed.join("apps/app/kustomization.yaml"),
            format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {n}\nresources:\n  - deployment.yaml\nimages:\n  - name: app\n    newName: registry.forge.test/app\n    newTag: v0\n"),
        )
        .unwrap();
        std::fs::write(
            seed.join("apps/app/deployment.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      containers:\n      - name: app\n        image: app\n",
        )
        .unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", &url, &format!("HEAD:refs/heads/{branch}")],
        );
        env.apply(&format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: gitops\n  namespace: {n}\nspec:\n  interval: 1h\n  url: {url}\n  ref:\n    branch: {branch}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: {n}\nspec:\n  interval: 1h\n  path: ./apps/app\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: gitops\n"
        ));
        wait_for(Duration::from_secs(120), "the seed applied", || {
            env.kubectl_out(&["get", "deployment", "app", "-n", &n])
                .status
                .success()
                .then_some(())
        });
        Some(Self {
            env,
            ns,
            url,
            branch,
            dir,
            flake: Flake::basic(),
        })
    }

    /// deploy.yaml for environment `e2e`; `cluster: false` leaves Flux alone.
    pub(crate) fn config(&self, name: &str, cluster: bool) -> PathBuf {
        self.config_for(name, cluster, "registry.forge.test/app")
    }

    /// As [`Self::config`], with the image written to the layout `oci:<repository>`.
    pub(crate) fn config_for(&self, name: &str, cluster: bool, repository: &str) -> PathBuf {
        let n = &self.ns.name;
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "flake: path:{flake}\ncache:\n  url: file://./cache\ngitops:\n  repo: {url}\n  branch: {branch}\n  clone_dir: ./clone\nledger:\n  path: ./ledger.db\nenvironments:\n  e2e:\n    cluster: {cluster}\n    kustomization: apps/{{service}}/kustomization.yaml\n    flux:\n      namespace: {n}\n      source: gitops\n      kustomization: app\n    kube:\n      namespace: {n}\n    timeouts:\n      reconcile: 2m\n      rollout: 2m\nservices:\n  app:\n    image:\n      repository: oci:{repository}\n      name: app\n",
                flake = self.flake.dir.path().display(),
                url = self.url,
                branch = self.branch,
            ),
        )
        .unwrap();
        path
    }

    pub(crate) fn forge(&self, config: &PathBuf, args: &[&str]) -> (Output, Value) {
        let out = forge()
            .env("KUBECONFIG", &self.env.kubeconfig)
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.dir.path().join("layers"))
            .env_remove("FORGE_LEDGER")
            .arg("--json")
            .args(args)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    pub(crate) fn release(&self, config: &PathBuf) -> Value {
        let (out, v) = self.forge(config, &["orchestrate-release", "app", "--env", "e2e"]);
        assert!(out.status.success(), "{}\n{v}", stderr(&out));
        assert_eq!(v["state"], "succeeded", "{v}");
        v
    }

    /// `forge status --exit-code` for app in e2e: the target and the exit code.
    pub(crate) fn status(&self, config: &PathBuf) -> (Value, Option<i32>) {
        let started = Instant::now();
        let (out, v) = self.forge(config, &["status", "--exit-code", "--service", "app"]);
        eprintln!("status took {:.2} s", started.elapsed().as_secs_f64());
        let t = v["targets"][0].clone();
        assert!(t.is_object(), "{}\n{v}", stderr(&out));
        (t, out.status.code())
    }
}

fn why(t: &Value) -> &str {
    t["explanation"].as_str().unwrap_or_default()
}

#[test]
fn each_drift_class_for_real_on_kubernetes_and_flux() {
    let Some(site) = Site::new("status") else {
        return;
    };
    let n = site.ns.name.clone();
    let offline = site.config("offline.yaml", false);
    let online = site.config("deploy.yaml", true);

    // git-ahead: released with Flux left alone, so the pin is committed
    // and recorded but not applied.
    site.release(&offline);
    let (t, code) = site.status(&online);
    assert_eq!(t["drift"], "git-ahead", "{t}");
    assert_eq!(code, Some(1));
    assert!(
        why(&t).contains("Flux (") && why(&t).contains("has applied"),
        "{t}"
    );
    let pinned = t["git"]["pin"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(t["ledger"]["deployed"]["digest"], pinned.as_str());
    assert_eq!(t["cluster"]["state"], "observed");
    let applied = t["cluster"]["kustomization"]["last_applied_revision"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !applied.ends_with(t["git"]["tip"]["id"].as_str().unwrap()),
        "{t}"
    );

    // in-sync: the same release again with the cluster: nothing new to
    // pin, Flux applies the tip, the pods run the pinned digest.
    site.release(&online);
    let status = site.env.kubectl_out(&[
        "rollout",
        "status",
        "deployment/app",
        "-n",
        &n,
        "--timeout=60s",
    ]);
    assert!(status.status.success(), "{}", stderr(&status));
    let (t, code) = site.status(&online);
    assert_eq!(t["drift"], "in-sync", "{t}");
    assert_eq!(code, Some(0));
    let running = t["cluster"]["workload"]["running"].as_array().unwrap();
    assert_eq!(running.len(), 1, "{t}");
    assert_eq!(running[0]["digest"], pinned.as_str());
    assert_eq!(running[0]["pods"], 2);
    assert_eq!(t["cluster"]["workload"]["ready_replicas"], 2);
    assert_eq!(t["cluster"]["workload"]["verdict"]["status"], "Current");
    assert!(
        t["cluster"]["kustomization"]["last_applied_revision"]
            .as_str()
            .unwrap()
            .ends_with(t["git"]["tip"]["id"].as_str().unwrap()),
        "{t}"
    );

    // cluster-drift: someone sets another image by hand.
    site.env.kubectl_ok(&[
        "set",
        "image",
        "deployment/app",
        &format!("app=registry.forge.test/app:hand@{HAND}"),
        "-n",
        &n,
    ]);
    let status = site.env.kubectl_out(&[
        "rollout",
        "status",
        "deployment/app",
        "-n",
        &n,
        "--timeout=60s",
    ]);
    assert!(status.status.success(), "{}", stderr(&status));
    let (t, code) = site.status(&online);
    assert_eq!(t["drift"], "cluster-drift", "{t}");
    assert_eq!(code, Some(1));
    assert!(why(&t).contains("sha256:777777777777"), "{t}");

    // ledger-stale: a commit pushed by hand to the GitOps branch.
    let hand = site.dir.path().join("hand");
    git(
        site.dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &site.branch,
            &site.url,
            hand.to_str().unwrap(),
        ],
    );
    let file = hand.join("apps/app/kustomization.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(&pinned, HAND)).unwrap();
    git(&hand, &["commit", "-q", "-am", "hand pin"]);
    git(
        &hand,
        &["push", "-q", "origin", &format!("HEAD:{}", site.branch)],
    );
    let (t, code) = site.status(&online);
    assert_eq!(t["drift"], "ledger-stale", "{t}");
    assert_eq!(code, Some(1));
    assert_eq!(t["git"]["pin"]["digest"], HAND);
    assert_eq!(t["git"]["pin_commit"]["subject"], "hand pin");
    assert!(why(&t).contains("git changed outside Forge"), "{t}");

    // unknown: a cluster that does not answer (a kubeconfig for a port
    // nobody listens on): said plainly, quickly, exit 2.
    let port = forge_testkit::free_port();
    let dead = site.dir.path().join("dead-kubeconfig");
    std::fs::write(
        &dead,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: u}}\ncurrent-context: dead\nusers:\n- name: u\n  user: {{token: secret-token-value}}\n"),
    )
    .unwrap();
    let started = Instant::now();
    let out = forge()
        .env("KUBECONFIG", &dead)
        .env_remove("FORGE_LEDGER")
        .args([
            "--json",
            "status",
            "--exit-code",
            "--cluster-timeout",
            "3s",
            "--config",
        ])
        .arg(&online)
        .output()
        .unwrap();
    let took = started.elapsed();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(2), "{}\n{v}", stderr(&out));
    let t = &v["targets"][0];
    assert_eq!(t["drift"], "unknown", "{t}");
    assert_eq!(t["cluster"]["state"], "unreachable");
    assert!(why(t).starts_with("cluster unreachable ("), "{t}");
    assert!(!out.stdout.windows(18).any(|w| w == b"secret-token-value"));
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_release_whose_rollout_fails_is_failed_with_the_reason() {
    let Some(site) = Site::new("statusfail") else {
        return;
    };
    // Pods that crash: the rollout fails fast, nothing rolls back (manual).
    let config = site.config_for("crash.yaml", true, "scenario.forge.test/crashloop");
    let (out, v) = site.forge(&config, &["orchestrate-release", "app", "--env", "e2e"]);
    assert!(!out.status.success(), "{v}");
    assert_eq!(v["state"], "failed", "{v}");
    let run = v["run"].as_str().unwrap().to_owned();
    let (t, code) = site.status(&config);
    assert_eq!(t["drift"], "failed", "{t}");
    assert_eq!(code, Some(1));
    assert_eq!(t["ledger"]["last_run"]["state"], "failed");
    assert_eq!(t["ledger"]["last_run"]["failed_step"], "rollout", "{t}");
    let why = why(&t);
    assert!(
        why.starts_with(&format!("run {run} failed at rollout: "))
            && why.contains("CrashLoopBackOff"),
        "{why}"
    );
}

//! `forge flux-reconcile` against the Kubernetes + Flux test environment:
//! real source- and kustomize-controllers reconciling commits pushed to the
//! local git server. Each test has its own namespace and git branch.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, Namespace, TestEnv};
use crate::support::{forge, stderr, stdout};

struct Setup {
    env: &'static TestEnv,
    ns: Namespace<'static>,
    branch: String,
    url: String,
    wc: tempfile::TempDir,
}

impl Setup {
    fn new(prefix: &str) -> Option<Self> {
        let env = testenv::get()?;
        let ns = env.namespace(prefix);
        let wc = tempfile::tempdir().unwrap();
        git(wc.path(), &["init", "-q"]);
        Some(Self {
            env,
            ns,
            branch: format!("flux-{}", testenv::unique()),
            url: format!("{}/gitops.git", env.git),
            wc,
        })
    }

    fn ns(&self) -> &str {
        &self.ns.name
    }

    /// Writes `files` under `deploy/`, commits and pushes to our branch; returns the commit id.
    fn push(&self, message: &str, files: &[(&str, String)]) -> String {
        let dir = self.wc.path().join("deploy");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        git(self.wc.path(), &["add", "-A"]);
        self.commit_and_push(message)
    }

    /// Commits what is staged and pushes it to our branch; returns the commit id.
    fn commit_and_push(&self, message: &str) -> String {
        git(self.wc.path(), &["commit", "-q", "-m", message]);
        let refspec = format!("HEAD:refs/heads/{}", self.branch);
        git(self.wc.path(), &["push", "-q", &self.url, &refspec]);
        git(self.wc.path(), &["rev-parse", "HEAD"])
    }

    /// A release: a ConfigMap `release-info` with `version`, and its kustomization.yaml.
    fn push_release(&self, version: &str) -> String {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-info\n  namespace: {}\ndata:\n  version: \"{version}\"\n",
            self.ns()
        );
        let kustomization = "resources:\n- app.yaml\n".to_owned();
        self.push(
            &format!("release {version}"),
            &[("app.yaml", cm), ("kustomization.yaml", kustomization)],
        )
    }

    /// The GitRepository `gitops` and the Kustomization `app` (interval 1h, so
    /// only our requests reconcile them after the first run).
    fn flux_objects(&self, suspend_kustomization: bool) {
        let n = self.ns();
        self.env.apply(&format!(
            r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: gitops, namespace: {n}}}
spec:
  interval: 1h
  url: {url}
  ref: {{branch: {branch}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: app, namespace: {n}}}
spec:
  interval: 1h
  path: ./deploy
  prune: true
  suspend: {suspend_kustomization}
  sourceRef: {{kind: GitRepository, name: gitops}}
"#,
            url = self.url,
            branch = self.branch,
        ));
    }

    /// `forge flux-reconcile --source NS/gitops --kustomization NS/app ARGS`,
    /// with its output and how long it took.
    fn reconcile(&self, args: &[&str]) -> (Output, Duration) {
        let n = self.ns();
        let started = Instant::now();
        let out = forge()
            .env("KUBECONFIG", &self.env.kubeconfig)
            .arg("flux-reconcile")
            .args(["--source", &format!("{n}/gitops")])
            .args(["--kustomization", &format!("{n}/app")])
            .args(args)
            .output()
            .expect("spawn forge");
        (out, started.elapsed())
    }

    fn configmap_version(&self) -> Value {
        let cm = self
            .env
            .get_json(&["configmap", "release-info", "-n", self.ns()]);
        cm["data"]["version"].clone()
    }
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

#[test]
fn pushed_commit_is_reconciled_and_reported_applied() {
    let Some(s) = Setup::new("flux-apply") else {
        return;
    };
    let first = s.push_release("1");
    s.flux_objects(false);
    let (out, _) = s.reconcile(&["--commit", &first, "--timeout", "120s"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(s.configmap_version(), "1");

    // A second commit: applied only through our request (interval 1h).
    let second = s.push_release("2");
    let (out, took) = s.reconcile(&["--commit", &second, "--timeout", "120s", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let revision = format!("{}@sha1:{second}", s.branch);
    assert_eq!(report["revision"], revision.as_str(), "{report}");
    assert_eq!(report["schema"], "forge.flux-reconcile/v1", "{report}");
    assert_eq!(report["source_revision"], revision.as_str(), "{report}");
    assert_eq!(
        report["kustomization"],
        format!("{}/app", s.ns()),
        "{report}"
    );
    assert_eq!(s.configmap_version(), "2");
    eprintln!("second commit applied in {took:?}");

    // Our token is what both controllers handled, set by our field manager.
    let token = report["token"].as_str().unwrap();
    for kind in ["gitrepository/gitops", "kustomization/app"] {
        let obj = s
            .env
            .get_json(&[kind, "-n", s.ns(), "--show-managed-fields"]);
        assert_eq!(
            obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"], token,
            "{kind}"
        );
        assert_eq!(obj["status"]["lastHandledReconcileAt"], token, "{kind}");
        let managers: Vec<&str> = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert!(managers.contains(&"forge"), "{kind}: {managers:?}");
    }

    // Without --commit: whatever the source has now (the same commit).
    let (out, _) = s.reconcile(&["--timeout", "120s"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains(&format!("applied {revision}")),
        "{}",
        show(&out)
    );
}

#[test]
fn broken_kustomization_fails_fast_with_flux_message() {
    let Some(s) = Setup::new("flux-broken") else {
        return;
    };
    let good = s.push_release("1");
    s.flux_objects(false);
    let (out, _) = s.reconcile(&["--commit", &good, "--timeout", "120s"]);
    assert!(out.status.success(), "{}", show(&out));

    let broken = s.push(
        "reference a file that is not there",
        &[(
            "kustomization.yaml",
            "resources:\n- app.yaml\n- missing.yaml\n".to_owned(),
        )],
    );
    let (out, took) = s.reconcile(&["--commit", &broken, "--timeout", "120s"]);
    eprintln!("build failure reported in {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Kustomization {}/app failed (BuildFailed)",
            s.ns()
        )),
        "{err}"
    );
    // Flux's own message.
    assert!(err.contains("kustomize build failed"), "{err}");
    assert!(err.contains("missing.yaml"), "{err}");
    assert!(
        took < Duration::from_secs(60),
        "took {took:?} of the 120 s timeout"
    );
    // The previous release stays applied.
    assert_eq!(s.configmap_version(), "1");

    // A commit without the Kustomization's path fails before Flux records the
    // attempted revision; it is still reported at once.
    git(s.wc.path(), &["rm", "-q", "-r", "deploy"]);
    let no_path = s.commit_and_push("remove deploy/");
    let (out, took) = s.reconcile(&["--commit", &no_path, "--timeout", "120s"]);
    eprintln!("missing path reported in {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("failed (ArtifactFailed): kustomization path not found"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(60),
        "took {took:?} of the 120 s timeout"
    );
}

#[test]
fn suspended_kustomization_is_an_error_and_nothing_is_touched() {
    let Some(s) = Setup::new("flux-suspended") else {
        return;
    };
    let first = s.push_release("1");
    s.flux_objects(true);
    let (out, took) = s.reconcile(&["--commit", &first, "--timeout", "120s"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Kustomization {}/app is suspended", s.ns())),
        "{err}"
    );
    assert!(
        err.contains(&format!("flux resume kustomization app -n {}", s.ns())),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let source = s.env.get_json(&["gitrepository", "gitops", "-n", s.ns()]);
    assert!(
        source["metadata"]["annotations"]
            .get("reconcile.fluxcd.io/requestedAt")
            .is_none(),
        "the source must not be annotated: {}",
        source["metadata"]
    );
}

#[test]
fn missing_objects_are_named() {
    let Some(s) = Setup::new("flux-missing") else {
        return;
    };
    let (out, _) = s.reconcile(&["--timeout", "30s"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("GitRepository {}/gitops not found", s.ns())),
        "{err}"
    );
}

#[test]
fn commit_that_never_arrives_times_out_naming_what_it_waited_for() {
    let Some(s) = Setup::new("flux-timeout") else {
        return;
    };
    s.push_release("1");
    s.flux_objects(false);
    let never = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
    let (out, took) = s.reconcile(&["--commit", never, "--timeout", "3s"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "timed out after 3 s waiting for GitRepository {}/gitops to",
            s.ns()
        )),
        "{err}"
    );
    assert!(err.contains("fetch deadbee"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn objects_come_from_deploy_yaml() {
    let Some(s) = Setup::new("flux-config") else {
        return;
    };
    let first = s.push_release("1");
    s.flux_objects(false);
    let run = |kustomization: &str, args: &[&str]| {
        let config = s.wc.path().join("deploy.yaml");
        std::fs::write(
            &config,
            format!(
                "registry: registry.forge.test\n\
                 environments:\n  test:\n    flux:\n      namespace: {}\n      source: gitops\n      kustomization: \"{kustomization}\"\n\
                 services:\n  app: {{}}\n  web: {{}}\n",
                s.ns()
            ),
        )
        .unwrap();
        forge()
            .env("KUBECONFIG", &s.env.kubeconfig)
            .args(["flux-reconcile", "--commit", &first, "--config"])
            .arg(&config)
            .args(args)
            .output()
            .expect("spawn forge")
    };
    let applied = format!("Kustomization {}/app applied", s.ns());

    // All services share the objects: no SERVICE needed.
    let out = run("app", &["--env", "test"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains(&applied), "{}", show(&out));

    // One Kustomization per service: SERVICE picks it, and is required.
    let out = run("{service}", &["--env", "test"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the services of `test` use different Flux objects; name one: app ({n}/app), web ({n}/web)",
            n = s.ns()
        )),
        "{}",
        show(&out)
    );
    let out = run("{service}", &["app", "--env", "test"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains(&applied), "{}", show(&out));
}

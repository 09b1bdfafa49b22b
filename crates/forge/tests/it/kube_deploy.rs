//! `forge deploy` end to end on the Kubernetes + Flux test environment: a real
//! Nix build and cache push, the kustomization commit pushed to the git
//! server, Flux applying it, and the rollout watched. A good deploy goes
//! green; a crashing image fails in seconds with its logs and is rolled back
//! (the cluster converges back); a kustomization Flux cannot build fails fast
//! with Flux's message.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, wait_for, Namespace, TestEnv};
use crate::support::{forge, stderr, stdout, Flake};

const SHA: &str = "fedcba9876543210fedcba9876543210fedcba98";

struct Cluster {
    env: &'static TestEnv,
    ns: Namespace<'static>,
    branch: String,
    url: String,
    dir: tempfile::TempDir,
    flake: Flake,
}

impl Cluster {
    /// A namespace, a branch of the git server seeded with `apps/app`
    /// (`extra_resources` added to its kustomization), and Flux objects
    /// `gitops` (GitRepository) and `app` (Kustomization) in the namespace.
    fn new(prefix: &str, extra_resources: &[&str]) -> Option<Self> {
        let env = testenv::get()?;
        let ns = env.namespace(prefix);
        let n = ns.name.clone();
        let branch = format!("deploy-{}", testenv::unique());
        let url = format!("{}/gitops.git", env.git);
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(seed.join("apps/app")).unwrap();
        git(&seed, &["init", "-q"]);
        let mut resources = vec!["deployment.yaml"];
        resources.extend_from_slice(extra_resources);
        std::fs::write(
            seed.join("apps/app/kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {n}\nresources:\n{}images:\n  - name: app  # pinned by forge deploy\n    newName: registry.forge.test/app\n    newTag: v0\n",
                resources.iter().map(|r| format!("  - {r}\n")).collect::<String>()
            ),
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
        Some(Self {
            env,
            ns,
            branch,
            url,
            dir,
            flake: Flake::basic(),
        })
    }

    /// deploy.yaml with the image written to the layout `oci:<repository>`
    /// (a directory named like a registry, so the pods' image names it).
    fn config(&self, name: &str, repository: &str) -> std::path::PathBuf {
        self.config_with(name, repository, "")
    }

    /// As [`Self::config`], with `image_extra` (YAML lines) under the service's `image:`.
    fn config_with(&self, name: &str, repository: &str, image_extra: &str) -> std::path::PathBuf {
        let n = &self.ns.name;
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "flake: path:{flake}\ncache:\n  url: file://./cache\ngitops:\n  repo: {url}\n  branch: {branch}\n  clone_dir: ./clone\nenvironments:\n  e2e:\n    kustomization: apps/{{service}}/kustomization.yaml\n    flux:\n      namespace: {n}\n      source: gitops\n      kustomization: app\n    kube:\n      namespace: {n}\n    timeouts:\n      reconcile: 2m\n      rollout: 2m\nservices:\n  app:\n    image:\n      repository: oci:{repository}\n      name: app\n{image_extra}    rollback: auto\n",
                flake = self.flake.dir.path().display(),
                url = self.url,
                branch = self.branch,
            ),
        )
        .unwrap();
        path
    }

    fn deploy(&self, config: &Path, extra: &[&str]) -> (Output, Value, Duration) {
        let started = Instant::now();
        let out = forge()
            .env("KUBECONFIG", &self.env.kubeconfig)
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.dir.path().join("layers"))
            .args(["--json", "deploy", "app", "--env", "e2e", "--config"])
            .arg(config)
            .args(extra)
            .output()
            .expect("spawn forge");
        let took = started.elapsed();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v, took)
    }

    fn deployment_image(&self) -> String {
        let d = self
            .env
            .get_json(&["deployment", "app", "-n", &self.ns.name]);
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
        report["steps"]
            .as_array()
            .and_then(|s| s.iter().rev().find(|s| s["step"] == name))
            .unwrap_or_else(|| panic!("no {name} step in {report}"))
    }
}

#[test]
fn good_deploy_goes_green_then_a_crashing_image_is_rolled_back() {
    let Some(c) = Cluster::new("deploy", &[]) else {
        return;
    };
    let n = c.ns.name.clone();
    wait_for(Duration::from_secs(120), "the seed applied", || {
        c.env
            .kubectl_out(&["get", "deployment", "app", "-n", &n])
            .status
            .success()
            .then_some(())
    });

    // A good deploy: Flux applies our commit and the rollout goes Current.
    let good = c.config("good.yaml", "registry.forge.test/app");
    let (out, report, took) = c.deploy(&good, &[]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(report["result"], "deployed", "{report}");
    eprintln!("good deploy took {:.1} s", took.as_secs_f64());
    let image = report["image"].as_str().unwrap().to_owned();
    assert!(image.starts_with("registry.forge.test/app:"), "{image}");
    assert_eq!(c.deployment_image(), image);
    let commit = report["commit"].as_str().unwrap();
    let flux = Cluster::step(&report, "flux");
    assert_eq!(flux["status"], "done", "{flux}");
    assert!(flux["detail"].as_str().unwrap().contains(commit), "{flux}");
    assert_eq!(Cluster::step(&report, "rollout")["status"], "done");
    let k = c.env.get_json(&["kustomization", "app", "-n", &n]);
    assert!(k["status"]["lastAppliedRevision"]
        .as_str()
        .unwrap()
        .ends_with(commit));

    // A crashing image: detected from the new pods long before the progress
    // deadline (600 s), logs shown, and the previous digest pinned again.
    let bad = c.config("bad.yaml", "scenario.forge.test/crashloop");
    let (out, report, took) = c.deploy(&bad, &[]);
    eprintln!(
        "crashing deploy failed and rolled back in {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    assert_eq!(report["result"], "rolled_back", "{report}");
    let failed = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "rollout" && s["status"] == "failed")
        .unwrap_or_else(|| panic!("no failed rollout step: {report}"));
    let detail = failed["detail"].as_str().unwrap();
    assert!(detail.contains("CrashLoopBackOff"), "{detail}");
    assert!(detail.contains("forge testenv: log line"), "{detail}");
    // The same verdict, structured: the failed rollout, then the rollback's.
    let rollouts = report["rollouts"].as_array().unwrap();
    assert_eq!(rollouts.len(), 2, "{report}");
    assert_eq!(rollouts[0]["status"], "Failed", "{}", rollouts[0]);
    assert_eq!(rollouts[1]["status"], "Current", "{}", rollouts[1]);
    assert!(took < Duration::from_secs(180), "took {took:?}");
    assert_eq!(report["to"], image.as_str(), "{report}");
    assert_eq!(c.deployment_image(), image);
    let status = c.env.kubectl_out(&[
        "rollout",
        "status",
        "deployment/app",
        "-n",
        &n,
        "--timeout=60s",
    ]);
    assert!(status.status.success(), "{}", stderr(&status));

    // The rollback is a commit with its trailer on the branch.
    let clone = c.dir.path().join("check");
    git(
        c.dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &c.branch,
            &c.url,
            clone.to_str().unwrap(),
        ],
    );
    let msg = git(&clone, &["log", "-1", "--format=%B"]);
    assert!(msg.starts_with("rollback(e2e): app to "), "{msg}");
    assert!(
        msg.contains("Forge-Rollback-Of: scenario.forge.test/crashloop"),
        "{msg}"
    );

    // The good image again: the branch already pins it, so nothing to do.
    let (out, report, _) = c.deploy(&good, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["result"], "no_op", "{report}");
}

#[test]
fn a_kustomization_flux_cannot_build_fails_fast_with_flux_message() {
    let Some(c) = Cluster::new("deployfail", &["missing-file.yaml"]) else {
        return;
    };
    let config = c.config("deploy.yaml", "registry.forge.test/app");
    let (out, report, took) = c.deploy(&config, &[]);
    eprintln!("Flux build failure reported in {:.1} s", took.as_secs_f64());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    assert_eq!(report["result"], "failed", "{report}");
    let flux = Cluster::step(&report, "flux");
    assert_eq!(flux["status"], "failed", "{report}");
    assert!(
        flux["detail"]
            .as_str()
            .unwrap()
            .contains("missing-file.yaml"),
        "{flux}"
    );
    // Far below the 2 minute reconcile timeout.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // The commit landed (Flux saw it); no rollout was attempted.
    assert!(report["commit"].is_string());
    assert!(report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["step"] != "rollout"));
}

#[test]
fn dry_run_lists_flux_objects_and_changes_nothing() {
    let Some(c) = Cluster::new("deploydry", &[]) else {
        return;
    };
    let config = c.config("deploy.yaml", "registry.forge.test/app");
    let before = git(c.dir.path(), &["ls-remote", &c.url, &c.branch]);
    let (out, report, _) = c.deploy(&config, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["result"], "planned");
    let flux = Cluster::step(&report, "flux")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        flux.contains(&format!("GitRepository {}/gitops", c.ns.name))
            && flux.contains(&format!("Kustomization {}/app", c.ns.name)),
        "{flux}"
    );
    assert!(report["diff"]
        .as_str()
        .unwrap()
        .contains("+    digest: sha256:"));
    assert_eq!(git(c.dir.path(), &["ls-remote", &c.url, &c.branch]), before);
}

#[test]
fn rollback_command_repins_the_previous_digest_and_waits_for_the_rollout() {
    let Some(c) = Cluster::new("rollback", &[]) else {
        return;
    };
    let v1 = c.config("v1.yaml", "registry.forge.test/app");
    let (out, first, _) = c.deploy(&v1, &[]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let image1 = first["image"].as_str().unwrap().to_owned();
    // Another image config, so another digest.
    let v2 = c.config_with(
        "v2.yaml",
        "registry.forge.test/app",
        "      env: {RELEASE: \"2\"}\n",
    );
    let (out, second, _) = c.deploy(&v2, &[]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let image2 = second["image"].as_str().unwrap().to_owned();
    assert_ne!(image1, image2);
    assert_eq!(c.deployment_image(), image2);

    let out = forge()
        .env("KUBECONFIG", &c.env.kubeconfig)
        .args(["--json", "rollback", "app", "--env", "e2e", "--config"])
        .arg(&v2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["action"], "rollback");
    assert_eq!(report["result"], "deployed", "{report}");
    assert_eq!(report["image"], image1.as_str());
    assert_eq!(Cluster::step(&report, "flux")["status"], "done", "{report}");
    assert_eq!(
        Cluster::step(&report, "rollout")["status"],
        "done",
        "{report}"
    );
    assert_eq!(c.deployment_image(), image1);
}

#[test]
fn a_suspended_kustomization_fails_the_deploy_before_anything_is_pushed() {
    let Some(c) = Cluster::new("deploysusp", &[]) else {
        return;
    };
    c.env.kubectl_ok(&[
        "patch",
        "kustomization",
        "app",
        "-n",
        &c.ns.name,
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let config = c.config("deploy.yaml", "registry.forge.test/app");
    let before = git(c.dir.path(), &["ls-remote", &c.url, &c.branch]);
    let (out, report, _) = c.deploy(&config, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let flux = Cluster::step(&report, "flux");
    assert_eq!(flux["status"], "failed", "{report}");
    let detail = flux["detail"].as_str().unwrap();
    assert!(
        detail.contains("suspended") && detail.contains("before pushing anything"),
        "{detail}"
    );
    assert_eq!(report["steps"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(git(c.dir.path(), &["ls-remote", &c.url, &c.branch]), before);
    assert!(!c.dir.path().join("cache").exists());
}

#[test]
fn a_rollout_timeout_on_the_command_line_overrides_the_environment() {
    let Some(c) = Cluster::new("deploytimeout", &[]) else {
        return;
    };
    // Pods that run but never become Ready: only the timeout ends the watch.
    let config = c.config("deploy.yaml", "scenario.forge.test/notready");
    let (out, report, took) = c.deploy(
        &config,
        &["--rollout-timeout", "5s", "--rollback", "manual"],
    );
    eprintln!("timed out after {:.1} s", took.as_secs_f64());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(report["result"], "failed", "{report}");
    let rollout = Cluster::step(&report, "rollout");
    assert_eq!(rollout["status"], "failed", "{report}");
    assert!(
        rollout["detail"]
            .as_str()
            .unwrap()
            .contains("within the timeout"),
        "{rollout}"
    );
    // The environment says 2 minutes; no rollback was asked for.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["step"] != "rollback"));
}

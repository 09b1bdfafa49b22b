//! `forge orchestrate-release` on the Kubernetes + Flux test environment:
//! `api` with a before-rollout migration Job and `web` after it
//! (`depends_on`), each verified. A green run pins both, runs the migration
//! as one Job and rolls both out; a failing migration Job stops the rollout
//! and shows the Job's logs; a run killed after its Job was created adopts
//! that Job on resume instead of creating a second one; a failing
//! verification rolls back under `rollback: auto` and exits non-zero.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, wait_for, Namespace, TestEnv};
use crate::support::{forge, stderr, stdout, Flake};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

struct Product {
    env: &'static TestEnv,
    ns: Namespace<'static>,
    url: String,
    branch: String,
    dir: tempfile::TempDir,
    flake: Flake,
}

impl Product {
    /// A namespace, a branch seeded with `apps/{api,web}` under one
    /// top-level kustomization, and the Flux objects `gitops` + `apps`.
    fn new(prefix: &str) -> Option<Self> {
        let env = testenv::get()?;
        let ns = env.namespace(prefix);
        let n = ns.name.clone();
        let branch = format!("release-{}", testenv::unique());
        let url = format!("{}/gitops.git", env.git);
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(
            seed.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [api, web]\n",
        )
        .unwrap();
        for s in ["api", "web"] {
            let d = seed.join(s);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("kustomization.yaml"),
                format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {n}\nresources: [deployment.yaml]\nimages:\n  - name: {s}\n    newName: registry.forge.test/{s}\n    newTag: v0\n"),
            )
            .unwrap();
            std::fs::write(
                d.join("deployment.yaml"),
                format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {s}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {s}}}\n  template:\n    metadata:\n      labels: {{app: {s}}}\n    spec:\n      containers:\n      - name: {s}\n        image: {s}\n"),
            )
            .unwrap();
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", &url, &format!("HEAD:refs/heads/{branch}")],
        );
        env.apply(&format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: gitops\n  namespace: {n}\nspec:\n  interval: 1h\n  url: {url}\n  ref:\n    branch: {branch}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {n}\nspec:\n  interval: 1h\n  path: ./\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: gitops\n"
        ));
        wait_for(Duration::from_secs(120), "the seed applied", || {
            env.kubectl_out(&["get", "deployment", "web", "-n", &n])
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

    /// deploy.yaml with `api` (migration `migrate_command`) and `web`
    /// (`depends_on: [api]`, verified by `web_check`), both `rollback: auto`.
    fn config(&self, name: &str, migrate_command: &str, web_check: &str) -> PathBuf {
        let n = &self.ns.name;
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "flake: path:{flake}\ncache:\n  url: file://./cache\ngitops:\n  repo: {url}\n  branch: {branch}\n  clone_dir: ./clone\nledger:\n  path: ./ledger.db\nenvironments:\n  e2e:\n    kustomization: '{{service}}/kustomization.yaml'\n    flux:\n      namespace: {n}\n      source: gitops\n      kustomization: apps\n    kube:\n      namespace: {n}\n    timeouts:\n      reconcile: 2m\n      rollout: 2m\nservices:\n  api:\n    attr: app\n    image:\n      repository: oci:registry.forge.test/api\n      name: api\n    rollback: auto\n    migrations:\n      command: [{migrate_command}]\n      timeout: 2m\n    verify:\n      - command: [sh, -c, 'test -n \"$FORGE_IMAGE\"']\n  web:\n    attr: lib\n    depends_on: [api]\n    image:\n      repository: oci:registry.forge.test/web\n      name: web\n    rollback: auto\n    verify:\n      - command: [sh, -c, '{web_check}']\n",
                flake = self.flake.dir.path().display(),
                url = self.url,
                branch = self.branch,
            ),
        )
        .unwrap();
        path
    }

    fn forge(&self, config: &PathBuf, args: &[&str]) -> Command {
        let mut c = forge();
        c.env("KUBECONFIG", &self.env.kubeconfig)
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.dir.path().join("layers"))
            .env_remove("FORGE_LEDGER")
            .arg("--json")
            .args(args)
            .arg("--config")
            .arg(config);
        c
    }

    fn release(&self, config: &PathBuf, crash_at: Option<&str>) -> (Output, Value) {
        let mut c = self.forge(
            config,
            &[
                "orchestrate-release",
                "api",
                "web",
                "--env",
                "e2e",
                "--lease-ttl",
                "1s",
            ],
        );
        if let Some(at) = crash_at {
            c.env("FORGE_CRASH_AT", at);
        }
        let out = c.output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    /// The migration Jobs of `run` in the namespace.
    fn jobs_of(&self, run: &str) -> Vec<Value> {
        let v = self.env.get_json(&[
            "jobs",
            "-n",
            &self.ns.name,
            "-l",
            &format!("forge.dev/run={run}"),
        ]);
        v["items"].as_array().cloned().unwrap_or_default()
    }

    fn image_of(&self, deployment: &str) -> String {
        let d = self
            .env
            .get_json(&["deployment", deployment, "-n", &self.ns.name]);
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn state_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == key))
        .and_then(|s| s["state"].as_str())
        .unwrap_or_else(|| panic!("no step {key} in {v}"))
}

#[test]
fn a_release_migrates_then_rolls_out_in_order_and_a_resumed_run_adopts_its_job() {
    let Some(p) = Product::new("release") else {
        return;
    };
    let config = p.config("deploy.yaml", "api, migrate", "test -n \"$FORGE_RELEASE\"");
    let (out, v) = p.release(&config, None);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(v["state"], "succeeded", "{v}");
    for key in [
        "api/e2e/migrate-before",
        "api/e2e/rollout",
        "api/e2e/verify",
        "web/e2e/rollout",
        "web/e2e/verify",
    ] {
        assert_eq!(state_of(&v, key), "succeeded", "{key}");
    }
    let run = v["run"].as_str().unwrap().to_owned();
    let jobs = p.jobs_of(&run);
    assert_eq!(jobs.len(), 1, "one Job for the one migration");
    let job = &jobs[0];
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 120);
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["api", "migrate"]));
    let api_image = p.image_of("api");
    assert!(api_image.contains("@sha256:"), "{api_image}");
    let digest = api_image.split('@').nth(1).unwrap();
    assert_eq!(
        container["image"].as_str().unwrap(),
        format!("registry.forge.test/api@{digest}"),
        "the Job runs the image that ships"
    );
    assert!(p.image_of("web").contains("@sha256:"));

    // Killed after its Job was created, before the outcome was recorded:
    // the resumed run waits for that Job, and creates no second one.
    let again = p.config("again.yaml", "api, migrate, --again", "true");
    let (out, _) = p.release(&again, Some("api/e2e/migrate-before:after"));
    assert!(stderr(&out).contains("FORGE_CRASH_AT"), "{}", stderr(&out));
    let listed = p.forge(&again, &["release", "list"]).output().unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let crashed = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        p.jobs_of(&crashed).len(),
        1,
        "the Job was created before the crash"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let out = p
        .forge(&again, &["release", "resume", &crashed])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "api/e2e/migrate-before")
        .unwrap();
    assert_eq!(step["outputs"]["migrations"][0]["how"], "adopted", "{step}");
    assert_eq!(p.jobs_of(&crashed).len(), 1, "still one Job");
}

#[test]
fn a_failing_migration_job_stops_the_rollout_with_its_logs() {
    let Some(p) = Product::new("relmigfail") else {
        return;
    };
    let before = git(p.dir.path(), &["ls-remote", &p.url, &p.branch]);
    let config = p.config("deploy.yaml", "\"false\"", "true");
    let (out, v) = p.release(&config, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    assert_eq!(v["failed"][0], "api/e2e/migrate-before", "{v}");
    let error = v["failed"][1].as_str().unwrap();
    assert!(error.contains("failed"), "{error}");
    assert!(
        error.contains("forge testenv: log line"),
        "the Job's logs: {error}"
    );
    assert_eq!(state_of(&v, "api/e2e/pin"), "skipped");
    assert_eq!(state_of(&v, "web/e2e/pin"), "skipped");
    let after = git(p.dir.path(), &["ls-remote", &p.url, &p.branch]);
    assert_eq!(before, after, "nothing was pinned");
    assert_eq!(p.image_of("api"), "registry.forge.test/api:v0");
}

#[test]
fn a_failing_verification_rolls_back_and_fails_the_run() {
    let Some(p) = Product::new("relverify") else {
        return;
    };
    // A first release that passes: what a rollback returns to.
    let good = p.config("good.yaml", "api, migrate", "true");
    let (out, v) = p.release(&good, None);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let web_before = p.image_of("web");

    // A new web image (another tag scheme makes another digest) that fails
    // its check: pinned, rolled out, verified, rolled back.
    let bad = p.config(
        "bad.yaml",
        "api, migrate",
        "echo web is unhealthy >&2; exit 1",
    );
    let yaml = std::fs::read_to_string(&bad).unwrap().replace(
        "      name: web\n",
        "      name: web\n      labels: {forge.test/variant: two}\n",
    );
    std::fs::write(&bad, yaml).unwrap();
    let (out, v) = p.release(&bad, None);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "web/e2e/verify", "{v}");
    let error = v["failed"][1].as_str().unwrap();
    assert!(error.contains("web is unhealthy"), "{error}");
    assert!(error.contains("rolled back to"), "{error}");
    wait_for(Duration::from_secs(60), "web back on its old image", || {
        (p.image_of("web") == web_before).then_some(())
    });
}

#[test]
fn independent_services_reconcile_and_roll_out_at_the_same_time() {
    let Some(p) = Product::new("relpar") else {
        return;
    };
    // No depends_on: api and web change the environment in parallel, and
    // both reconcile the same Flux objects at once (each request may be
    // superseded by the other's: both must still see their commit applied).
    let config = p.config("deploy.yaml", "api, migrate", "true");
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace("    depends_on: [api]\n", "")
        .replace(
            "    migrations:\n      command: [api, migrate]\n      timeout: 2m\n",
            "",
        );
    std::fs::write(&config, yaml).unwrap();
    let (out, v) = p.release(&config, None);
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    let run = v["run"].as_str().unwrap();
    let shown = p
        .forge(&config, &["release", "show", run])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let span = |key: &str| {
        let s = shown["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no {key}"));
        (
            s["started_at"].as_i64().unwrap(),
            s["finished_at"].as_i64().unwrap(),
        )
    };
    // Both pin, reconcile and roll out at once.
    let (api_start, api_end) = (span("api/e2e/pin").0, span("api/e2e/rollout").1);
    let (web_start, web_end) = (span("web/e2e/pin").0, span("web/e2e/rollout").1);
    assert!(
        web_start < api_end && api_start < web_end,
        "api {api_start}..{api_end} and web {web_start}..{web_end} should overlap"
    );
    assert!(p.image_of("api").contains("@sha256:") && p.image_of("web").contains("@sha256:"));
}

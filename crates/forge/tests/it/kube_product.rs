//! `forge product-release` on the Kubernetes + Flux test environment with
//! two environments (two namespaces, each with its GitRepository and
//! Kustomization over its own path) and three services (`web` after `api`,
//! `worker` on its own): a green release goes through both, production
//! running byte for byte the digests staging got; a failing verification in
//! staging leaves production without a commit.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, wait_for, Namespace, TestEnv};
use crate::support::{forge, stderr, stdout, Flake};

const SHA: &str = "76543210fedcba9876543210fedcba9876543210";
const SERVICES: [&str; 3] = ["api", "web", "worker"];

struct Shop {
    env: &'static TestEnv,
    staging: Namespace<'static>,
    production: Namespace<'static>,
    url: String,
    branch: String,
    dir: tempfile::TempDir,
    flake: Flake,
}

impl Shop {
    fn new(prefix: &str) -> Option<Self> {
        let env = testenv::get()?;
        let staging = env.namespace(&format!("{prefix}-stg"));
        let production = env.namespace(&format!("{prefix}-prd"));
        let branch = format!("product-{}", testenv::unique());
        let url = format!("{}/gitops.git", env.git);
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        git(&seed, &["init", "-q"]);
        for (path, ns) in [("staging", &staging.name), ("production", &production.name)] {
            std::fs::create_dir_all(seed.join(path)).unwrap();
            std::fs::write(
                seed.join(path).join("kustomization.yaml"),
                format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\n", SERVICES.join(", ")),
            )
            .unwrap();
            for s in SERVICES {
                let d = seed.join(path).join(s);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(
                    d.join("kustomization.yaml"),
                    format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\nresources: [deployment.yaml]\nimages:\n  - name: {s}\n    newName: registry.forge.test/{s}\n    newTag: v0\n"),
                )
                .unwrap();
                std::fs::write(
                    d.join("deployment.yaml"),
                    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {s}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {s}}}\n  template:\n    metadata:\n      labels: {{app: {s}}}\n    spec:\n      containers:\n      - name: {s}\n        image: {s}\n"),
                )
                .unwrap();
            }
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", &url, &format!("HEAD:refs/heads/{branch}")],
        );
        for (path, ns) in [("staging", &staging.name), ("production", &production.name)] {
            env.apply(&format!(
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: gitops\n  namespace: {ns}\nspec:\n  interval: 1h\n  url: {url}\n  ref:\n    branch: {branch}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {ns}\nspec:\n  interval: 1h\n  path: ./{path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: gitops\n"
            ));
            wait_for(Duration::from_secs(120), "the seed applied", || {
                env.kubectl_out(&["get", "deployment", "worker", "-n", ns])
                    .status
                    .success()
                    .then_some(())
            });
        }
        Some(Self {
            env,
            staging,
            production,
            url,
            branch,
            dir,
            flake: Flake::basic(),
        })
    }

    /// deploy.yaml: staging and production, the product `shop`; `web`'s
    /// check runs `web_check` (with FORGE_ENV set).
    fn config(&self, web_check: &str) -> PathBuf {
        let path = self.dir.path().join("deploy.yaml");
        let env = |name: &str, ns: &str| {
            format!("  {name}:\n    kustomization: '{name}/{{service}}/kustomization.yaml'\n    flux: {{namespace: {ns}, source: gitops, kustomization: apps}}\n    kube: {{namespace: {ns}}}\n    timeouts: {{reconcile: 2m, rollout: 2m}}\n")
        };
        let service = |s: &str, attr: &str, extra: &str| {
            format!("  {s}:\n    attr: {attr}\n    image: {{repository: 'oci:registry.forge.test/{s}', name: {s}}}\n    rollback: auto\n{extra}")
        };
        std::fs::write(
            &path,
            format!(
                "flake: path:{flake}\ncache:\n  url: file://./cache\ngitops:\n  repo: {url}\n  branch: {branch}\n  clone_dir: ./clone\nledger:\n  path: ./ledger.db\nenvironments:\n{stg}{prd}services:\n{api}{web}{worker}products:\n  shop:\n    services: [api, web, worker]\n    environments: [staging, production]\n",
                flake = self.flake.dir.path().display(),
                url = self.url,
                branch = self.branch,
                stg = env("staging", &self.staging.name),
                prd = env("production", &self.production.name),
                api = service("api", "app", ""),
                web = service("web", "lib", &format!("    depends_on: [api]\n    verify:\n      - command: [sh, -c, '{web_check}']\n")),
                worker = service("worker", "app", ""),
            ),
        )
        .unwrap();
        path
    }

    fn release(&self, config: &PathBuf) -> (Output, Value) {
        let out = forge()
            .env("KUBECONFIG", &self.env.kubeconfig)
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.dir.path().join("layers"))
            .env_remove("FORGE_LEDGER")
            .args(["--json", "product-release", "shop", "--config"])
            .arg(config)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    fn image(&self, ns: &str, deployment: &str) -> String {
        let d = self.env.get_json(&["deployment", deployment, "-n", ns]);
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[test]
fn a_product_goes_through_staging_then_production_with_the_same_digests() {
    let Some(shop) = Shop::new("shop") else {
        return;
    };
    let config = shop.config("test \"$FORGE_ENV\" = staging -o \"$FORGE_ENV\" = production");
    let (out, v) = shop.release(&config);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(v["state"], "succeeded", "{v}");
    for s in SERVICES {
        let staging = shop.image(&shop.staging.name, s);
        assert!(staging.contains("@sha256:"), "{s} in staging: {staging}");
        assert_eq!(
            shop.image(&shop.production.name, s),
            staging,
            "{s}: production runs what staging got"
        );
    }
    let keys: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"shop/production/gate"), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("api/production/build")),
        "production builds nothing"
    );
}

#[test]
fn a_failing_verification_in_staging_leaves_production_alone() {
    let Some(shop) = Shop::new("shopfail") else {
        return;
    };
    let config = shop.config("echo web is broken in $FORGE_ENV >&2; exit 1");
    let (out, v) = shop.release(&config);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "web/staging/verify", "{v}");
    for s in SERVICES {
        assert_eq!(
            shop.image(&shop.production.name, s),
            format!("registry.forge.test/{s}:v0"),
            "{s} in production untouched"
        );
    }
    let tip = git(shop.dir.path(), &["ls-remote", &shop.url, &shop.branch]);
    let clone = shop.dir.path().join("check");
    git(
        shop.dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &shop.branch,
            &shop.url,
            clone.to_str().unwrap(),
        ],
    );
    let messages = git(&clone, &["log", "--format=%s"]);
    assert!(
        !messages.contains("production"),
        "no commit for production: {messages}\n{tip}"
    );
    // The check's output is kept; web's automatic rollback was attempted
    // (here the seed pinned no digest to go back to, and says so).
    let error = v["failed"][1].as_str().unwrap();
    assert!(error.contains("web is broken in staging"), "{error}");
    assert!(error.contains("rollback"), "{error}");
}

#[test]
fn a_failing_integration_test_job_keeps_the_release_out_of_production() {
    let Some(shop) = Shop::new("shopit") else {
        return;
    };
    // A flake check that passes, and an integration test whose Job fails
    // (the test environment fails pods whose command is `false`).
    let file = shop.flake.dir.path().join("flake.nix");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "    in {\n      packages.${system} = {",
        "    in {\n      checks.${system}.ok = sh { name = \"check-ok\"; args = [ \"-c\" \"echo ok > $out\" ]; };\n      packages.${system} = {",
    );
    std::fs::write(&file, text).unwrap();
    let config = shop.config("true");
    let yaml = std::fs::read_to_string(&config).unwrap().replace(
        "    environments: [staging, production]\n",
        "    environments: [staging, production]\n    checks: [ok]\n    integration_test: {image: 'registry.forge.test/shop-tests:1', command: ['false'], timeout: 1m}\n",
    );
    std::fs::write(&config, yaml).unwrap();
    let out = forge()
        .env("KUBECONFIG", &shop.env.kubeconfig)
        .env("FORGE_GIT_SHA", SHA)
        .env("FORGE_CACHE_DIR", shop.dir.path().join("layers"))
        .env_remove("FORGE_LEDGER")
        .args(["--json", "comprehensive-release", "shop", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{}\n{v}", stderr(&out));
    assert_eq!(v["failed"][0], "shop/staging/integration-test", "{v}");
    let error = v["failed"][1].as_str().unwrap();
    assert!(
        error.contains("forge testenv: log line"),
        "the Job's logs: {error}"
    );
    for s in SERVICES {
        assert!(
            shop.image(&shop.staging.name, s).contains("@sha256:"),
            "{s} is in staging"
        );
        assert_eq!(
            shop.image(&shop.production.name, s),
            format!("registry.forge.test/{s}:v0"),
            "{s} not in production"
        );
    }
    let jobs = shop.env.get_json(&["jobs", "-n", &shop.staging.name]);
    let names: Vec<&str> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["metadata"]["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("api-integration-test-")),
        "{names:?}"
    );
}

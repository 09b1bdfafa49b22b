//! `forge deploy` and `forge rollback` without a cluster (`cluster: false`):
//! a real Nix build, a `file://` cache, an `oci:` layout as the registry and a
//! real bare git repository as the GitOps remote, checked with `git`, `skopeo`
//! and the cache's files. Also no-op re-runs, dry runs, concurrent deploys and
//! bad input that must leave the remote untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::git::git;
use crate::support::{forge, stderr, stdout, Flake};

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";
const OLD_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn kustomization(name: &str) -> String {
    format!(
        "# {name} in dev (edited by forge deploy)\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: {name} # {{\"$imagepolicy\": \"flux-system:{name}\"}}\n    newTag: v0\n    digest: {OLD_DIGEST}\n"
    )
}

/// A temp dir with deploy.yaml, a bare GitOps repo seeded with one
/// kustomization per service, and the flake.
struct Local {
    tmp: tempfile::TempDir,
    flake: Flake,
}

impl Local {
    fn new(services: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let flake = Flake::basic();
        let bare = tmp.path().join("gitops.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let seed = tmp.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q"]);
        for s in services {
            let dir = seed.join("apps").join(s);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("kustomization.yaml"),
                kustomization(&format!("./images/{s}")),
            )
            .unwrap();
        }
        std::fs::write(seed.join("README"), "fleet\n").unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
        );
        let mut yaml = format!(
            "flake: path:{}\ncache:\n  url: file://./cache\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nenvironments:\n  dev:\n    cluster: false\n    kustomization: apps/{{service}}/kustomization.yaml\nservices:\n",
            flake.dir.path().display()
        );
        for s in services {
            yaml.push_str(&format!("  {s}: {{}}\n"));
        }
        std::fs::write(tmp.path().join("deploy.yaml"), yaml).unwrap();
        Self { tmp, flake }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn forge(&self, args: &[&str]) -> Command {
        let mut c = forge();
        c.arg("--json")
            .args(args)
            .arg("--config")
            .arg(self.path("deploy.yaml"))
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", self.path("layers"));
        c
    }

    fn run(&self, args: &[&str]) -> (Output, Value) {
        let out = self.forge(args).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    fn tip(&self) -> String {
        git(
            self.tmp.path(),
            &["--git-dir", "gitops.git", "rev-parse", "main"],
        )
    }

    fn file_at_tip(&self, service: &str) -> String {
        // `git` output comes trimmed; the file ends with a newline.
        let text = git(
            self.tmp.path(),
            &[
                "--git-dir",
                "gitops.git",
                "show",
                &format!("main:apps/{service}/kustomization.yaml"),
            ],
        );
        text + "\n"
    }

    fn message(&self, rev: &str) -> String {
        git(
            self.tmp.path(),
            &["--git-dir", "gitops.git", "log", "-1", "--format=%B", rev],
        )
    }
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn st(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn deploy_pins_the_digest_then_reruns_as_a_no_op_and_rolls_back() {
    let l = Local::new(&["app"]);
    let seed_tip = l.tip();

    // Dry run first: a plan with the diff, and nothing written anywhere.
    let (out, plan) = l.run(&["deploy", "app", "--env", "dev", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(plan["result"], "planned", "{plan}");
    let diff = plan["diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("-    digest: {OLD_DIGEST}")),
        "{diff}"
    );
    assert!(diff.contains("+    digest: sha256:"), "{diff}");
    assert_eq!(l.tip(), seed_tip);
    assert!(!l.path("cache/nix-cache-info").exists());
    assert!(!l.path("images").exists());
    assert_eq!(
        statuses(&plan),
        st(&[
            ("build", "done"),
            ("cache", "planned"),
            ("image", "planned"),
            ("gitops", "planned"),
            ("flux", "skipped"),
            ("rollout", "skipped")
        ])
    );

    // The deploy: cache, layout, commit.
    let (out, report) = l.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(report["result"], "deployed", "{report}");
    let image = report["image"].as_str().unwrap();
    let digest = image.rsplit_once('@').unwrap().1;
    let arch = if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "amd64"
    };
    assert_eq!(image, format!("./images/app:{arch}-89abcde@{digest}"));
    // The plan's digest is the one deployed: builds are deterministic.
    assert!(diff.contains(digest), "{diff}");
    let app = l.flake.build("app");
    let hash = Path::new(&app).file_name().unwrap().to_str().unwrap()[..32].to_owned();
    assert!(l.path(&format!("cache/{hash}.narinfo")).exists());
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}:{arch}-89abcde", l.path("images/app").display()),
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&inspect.stdout)
        .unwrap_or_else(|_| panic!("skopeo: {}", stderr(&inspect)));
    assert_eq!(v["Digest"], digest);
    let text = l.file_at_tip("app");
    assert!(text.contains(&format!("    digest: {digest}\n")), "{text}");
    assert!(
        text.contains(
            "  - name: ./images/app # {\"$imagepolicy\": \"flux-system:./images/app\"}\n"
        ),
        "marker comment kept: {text}"
    );
    assert!(text.starts_with("# ./images/app in dev (edited by forge deploy)\n"));
    let commit = report["commit"].as_str().unwrap().to_owned();
    assert_eq!(l.tip(), commit);
    let msg = l.message(&commit);
    assert!(
        msg.starts_with("deploy(dev): app to ./images/app:"),
        "{msg}"
    );
    for trailer in [
        "Forge-Service: app".to_owned(),
        "Forge-Environment: dev".to_owned(),
        format!("Forge-Image: {image}"),
        format!("Forge-Flake-Rev: {SHA}"),
    ] {
        assert!(msg.contains(&trailer), "{trailer} in {msg}");
    }

    // Again with nothing changed: a no-op that says so, no new commit.
    let (out, again) = l.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(again["result"], "no_op", "{again}");
    assert_eq!(
        statuses(&again)[1..4],
        st(&[
            ("cache", "unchanged"),
            ("image", "unchanged"),
            ("gitops", "unchanged")
        ])[..]
    );
    assert_eq!(l.tip(), commit);
    // The human summary says so too.
    let out = forge()
        .args(["deploy", "app", "--env", "dev", "--config"])
        .arg(l.path("deploy.yaml"))
        .env("FORGE_GIT_SHA", SHA)
        .env("FORGE_CACHE_DIR", l.path("layers"))
        .output()
        .unwrap();
    assert!(stdout(&out).contains("result: no-op"), "{}", stdout(&out));

    // Rollback: the previous pin comes back from the history, with its tag.
    let (out, rb) = l.run(&["rollback", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(rb["result"], "deployed", "{rb}");
    let text = l.file_at_tip("app");
    assert!(
        text.contains(&format!("    digest: {OLD_DIGEST}\n")),
        "{text}"
    );
    assert!(text.contains("    newTag: v0\n"), "{text}");
    let msg = l.message("main");
    assert!(
        msg.starts_with("rollback(dev): app to ./images/app:v0@"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Forge-Rollback-Of: {image}")),
        "{msg}"
    );

    // And forward again to the deploy's commit with --to.
    let (out, fwd) = l.run(&["rollback", "app", "--env", "dev", "--to", &commit[..10]]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fwd["image"], image, "{fwd}");
    assert!(l.file_at_tip("app").contains(digest));

    // --to a digest: its tag comes back from the history.
    let (out, by_digest) = l.run(&["rollback", "app", "--env", "dev", "--to", OLD_DIGEST]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(by_digest["image"], format!("./images/app:v0@{OLD_DIGEST}"));
    let text = l.file_at_tip("app");
    assert!(
        text.contains("    newTag: v0\n") && text.contains(OLD_DIGEST),
        "{text}"
    );
    // A commit that does not exist is named in the error; nothing is pushed.
    let tip = l.tip();
    let (out, bad) = l.run(&["rollback", "app", "--env", "dev", "--to", "0000000bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        bad["reason"].as_str().unwrap().contains("0000000bad"),
        "{bad}"
    );
    assert_eq!(l.tip(), tip);
}

#[test]
fn two_deploys_of_different_services_at_once_both_land() {
    let l = Local::new(&["app", "static-hello"]);
    let seed = l.tip();
    // Separate clones, as on two machines: their pushes race on the remote.
    let spawn = |service: &str| {
        let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
            .unwrap()
            .replace(
                "clone_dir: ./clone",
                &format!("clone_dir: ./clone-{service}"),
            );
        let cfg = l.path(&format!("deploy-{service}.yaml"));
        std::fs::write(&cfg, yaml).unwrap();
        forge()
            .args(["--json", "deploy", service, "--env", "dev", "--config"])
            .arg(&cfg)
            .env("FORGE_GIT_SHA", SHA)
            .env("FORGE_CACHE_DIR", l.path(&format!("layers-{service}")))
            .spawn()
            .unwrap()
    };
    let a = spawn("app");
    let b = spawn("static-hello");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(out.status.success(), "{}\n{}", stderr(out), stdout(out));
    }
    // Both edits are on the branch, each in its own commit on top of the seed.
    for s in ["app", "static-hello"] {
        assert!(!l.file_at_tip(s).contains(OLD_DIGEST), "{s} lost its edit");
    }
    let log = git(
        l.tmp.path(),
        &[
            "--git-dir",
            "gitops.git",
            "log",
            "--format=%s",
            &format!("{seed}..main"),
        ],
    );
    assert_eq!(log.lines().count(), 2, "{log}");
}

#[test]
fn bad_input_is_reported_and_nothing_is_pushed() {
    let l = Local::new(&["app"]);
    let seed = l.tip();

    let (out, _) = l.run(&["deploy", "ap", "--env", "dev"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("no service `ap`") && e.contains("app"), "{e}");

    let (out, _) = l.run(&["deploy", "app", "--env", "prod"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no environment `prod`"),
        "{}",
        stderr(&out)
    );

    // The kustomization does not have the image: an error unless --allow-add.
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace(
            "services:\n  app: {}",
            "services:\n  app:\n    image:\n      repository: registry.example/other",
        );
    std::fs::write(l.path("other.yaml"), yaml).unwrap();
    let out = forge()
        .args([
            "--json",
            "deploy",
            "app",
            "--env",
            "dev",
            "--dry-run",
            "--config",
        ])
        .arg(l.path("other.yaml"))
        .env("FORGE_CACHE_DIR", l.path("layers"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("apps/app/kustomization.yaml") && reason.contains("registry.example/other"),
        "{reason}"
    );
    assert_eq!(l.tip(), seed);

    // An unreachable remote.
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace("repo: ./gitops.git", "repo: ./missing.git")
        .replace("clone_dir: ./clone", "clone_dir: ./clone-missing");
    std::fs::write(l.path("missing.yaml"), yaml).unwrap();
    let out = forge()
        .args(["--json", "deploy", "app", "--env", "dev", "--config"])
        .arg(l.path("missing.yaml"))
        .env("FORGE_CACHE_DIR", l.path("layers"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["reason"].as_str().unwrap().contains("missing.git"), "{v}");
    // Found before building: nothing reached the cache.
    assert_eq!(statuses(&v), st(&[("gitops", "failed")]), "{v}");
    assert!(!l.path("cache").exists());

    // A token variable that is not set: named, and nothing pushed.
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace(
            "  clone_dir: ./clone\n",
            "  clone_dir: ./clone\n  auth:\n    token_env: FORGE_TEST_UNSET_TOKEN\n",
        );
    std::fs::write(l.path("token.yaml"), yaml).unwrap();
    let out = forge()
        .args(["--json", "deploy", "app", "--env", "dev", "--config"])
        .arg(l.path("token.yaml"))
        .env_remove("FORGE_TEST_UNSET_TOKEN")
        .env("FORGE_CACHE_DIR", l.path("layers"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("FORGE_TEST_UNSET_TOKEN is not set"),
        "{v}"
    );
    assert_eq!(l.tip(), seed);

    // An environment with a cluster nobody can reach: fails before pushing.
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace("    cluster: false\n", "");
    std::fs::write(l.path("cluster.yaml"), yaml).unwrap();
    let out = forge()
        .args(["--json", "deploy", "app", "--env", "dev", "--config"])
        .arg(l.path("cluster.yaml"))
        .env("KUBECONFIG", l.path("no-such-kubeconfig"))
        .env("FORGE_CACHE_DIR", l.path("layers"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(statuses(&v), st(&[("flux", "failed")]), "{v}");
    assert_eq!(l.tip(), seed);
    assert!(!l.path("cache").exists());

    // A dirty, diverged cache clone: its local changes never reach the remote.
    let (out, _) = l.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let clone = l.path("clone");
    std::fs::write(clone.join("README"), "local junk\n").unwrap();
    git(&clone, &["commit", "-qam", "local commit"]);
    std::fs::write(clone.join("stray"), "x").unwrap();
    let (out, _) = l.run(&["rollback", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let readme = git(
        l.tmp.path(),
        &["--git-dir", "gitops.git", "show", "main:README"],
    );
    assert_eq!(readme, "fleet");
    let files = git(
        l.tmp.path(),
        &[
            "--git-dir",
            "gitops.git",
            "ls-tree",
            "-r",
            "--name-only",
            "main",
        ],
    );
    assert!(!files.contains("stray"), "{files}");
}

#[test]
fn deploy_to_a_registry_pins_the_digest_skopeo_reads() {
    let registry = crate::support::registry::Registry::start();
    let l = Local::new(&["app"]);
    // The manifests call the image `./images/app`; it is pulled from the registry.
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace(
            "registry: oci:./images\n",
            &format!("registry: {}/team\n", registry.host()),
        )
        .replace(
            "services:\n  app: {}",
            "services:\n  app:\n    image:\n      name: ./images/app",
        );
    std::fs::write(l.path("deploy.yaml"), yaml).unwrap();
    let (out, report) = l.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert_eq!(report["result"], "deployed", "{report}");
    let repo = format!("{}/team/app", registry.host());
    let image = report["image"].as_str().unwrap();
    assert!(image.starts_with(&format!("{repo}:")), "{image}");
    let digest = image.rsplit_once('@').unwrap().1;
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{repo}@{digest}"),
        ])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let v: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Digest"], digest);
    let text = l.file_at_tip("app");
    assert!(text.contains(&format!("    newName: {repo}\n")), "{text}");
    assert!(text.contains(&format!("    digest: {digest}\n")), "{text}");

    // Again: every blob is there and the pin is unchanged. In a GitHub
    // Actions job the report also goes to the job summary.
    let summary = l.path("step-summary.md");
    let out = l
        .forge(&["deploy", "app", "--env", "dev"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["result"], "no_op", "{again}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### deploy `app` to `dev`: no-op\n"), "{md}");
    assert!(md.contains("| gitops | unchanged |"), "{md}");
}

#[test]
fn commits_are_signed_with_the_ssh_key_and_git_verifies_them() {
    let l = Local::new(&["app"]);
    let keygen = |name: &str| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(l.path(name))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read_to_string(l.path(&format!("{name}.pub"))).unwrap()
    };
    let public = keygen("signing");
    let other = keygen("other");
    let yaml = std::fs::read_to_string(l.path("deploy.yaml"))
        .unwrap()
        .replace(
            "  clone_dir: ./clone\n",
            "  clone_dir: ./clone\n  signing_key_file: ./signing\n",
        );
    std::fs::write(l.path("deploy.yaml"), yaml).unwrap();
    let (out, report) = l.run(&["deploy", "app", "--env", "dev"]);
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    let commit = report["commit"].as_str().unwrap();

    // git itself checks the signature against an allowed-signers file.
    let verify = |allowed_key: &str| {
        std::fs::write(l.path("allowed"), format!("* {allowed_key}")).unwrap();
        Command::new("git")
            .args(["--git-dir"])
            .arg(l.path("gitops.git"))
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!(
                "gpg.ssh.allowedSignersFile={}",
                l.path("allowed").display()
            ))
            .args(["verify-commit", commit])
            .output()
            .unwrap()
    };
    let good = verify(&public);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(
        stderr(&good).contains("Good \"git\" signature"),
        "{}",
        stderr(&good)
    );
    let bad = verify(&other);
    assert!(!bad.status.success(), "a different key must not verify");

    // An unusable key is named before anything is built or pushed.
    std::fs::write(l.path("signing"), "not a key").unwrap();
    let tip = l.tip();
    let (out, report) = l.run(&["deploy", "app", "--env", "dev", "--rollback", "manual"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out) + report["reason"].as_str().unwrap_or_default();
    assert!(
        e.contains("gitops.signing_key_file") && e.contains("signing"),
        "{e}"
    );
    assert_eq!(l.tip(), tip);
}

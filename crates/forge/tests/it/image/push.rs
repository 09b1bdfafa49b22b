//! Pushing images: skips, mounts, auth, faults, indexes, and running them.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{build, json, skopeo_digest};
use crate::support::registry::Registry;
use crate::support::{forge, free_port, run_ok, stderr, stdout, Flake};

#[test]
fn push_skips_present_blobs_mounts_across_repositories_and_skopeo_copies() {
    let registry = Registry::start();
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let app = flake.build("app");
    let push = |repo: &str| {
        json(&run_ok(
            forge()
                .env("FORGE_GIT_SHA", "0123456789abcdef0123456789abcdef01234567")
                .args([
                    "--json",
                    "image",
                    "push",
                    &app,
                    "--repo",
                    &format!("{}/{repo}", registry.host()),
                ])
                .args(["--layer-cache", cache.to_str().unwrap()]),
        ))
    };
    let first = push("team/app");
    assert_eq!(first["schema"], "forge.image-push/v1", "{first}");
    assert_eq!(
        first["tags"],
        serde_json::json!(["amd64-0123456", "amd64-latest"])
    );
    assert!(first["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["status"] == "uploaded"));
    let digest = first["digest"].as_str().unwrap();
    assert_eq!(
        skopeo_digest(&format!(
            "docker://{}/team/app:amd64-0123456",
            registry.host()
        )),
        digest
    );

    let second = push("team/app");
    assert!(second["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["status"] == "present"));
    assert_eq!(second["bytes_uploaded"], 0);
    let third = push("other/app");
    assert!(
        third["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["status"] == "mounted"),
        "{third}"
    );

    let copy = tmp.path().join("copy");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!(
                "docker://{}/other/app:amd64-latest",
                registry.host()
            ))
            .arg(format!("oci:{}:x", copy.display())),
    );
}

#[test]
fn basic_auth_from_env_and_docker_config_and_clear_errors() {
    let registry = Registry::start_with(Some(("pusher", "s3cret")));
    let layout_dir = tempfile::tempdir().unwrap();
    let app = Flake::basic().build("app");
    let cache = layout_dir.path().join("cache");
    build(&app, &layout_dir.path().join("img"), &cache, &[]);
    let src = format!("oci:{}:v1", layout_dir.path().join("img").display());
    let repo = format!("{}/auth/app", registry.host());

    let out = forge()
        .args(["image", "push", &src, "--repo", &repo, "--tag", "t1"])
        .env("HOME", layout_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("requires credentials"),
        "{}",
        stderr(&out)
    );

    let out = forge()
        .args(["image", "push", &src, "--repo", &repo, "--tag", "t1"])
        .env("FORGE_REGISTRY_USER", "pusher")
        .env("FORGE_REGISTRY_TOKEN", "wrong-pass")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("authentication failed"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("wrong-pass"));

    run_ok(
        forge()
            .args(["image", "push", &src, "--repo", &repo, "--tag", "t1"])
            .env("FORGE_REGISTRY_USER", "pusher")
            .env("FORGE_REGISTRY_TOKEN", "s3cret"),
    );

    let docker = layout_dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"cHVzaGVyOnMzY3JldA=="}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    run_ok(
        forge()
            .args(["image", "push", &src, "--repo", &repo, "--tag", "t2"])
            .env("DOCKER_CONFIG", &docker),
    );
}

fn start_proxy(upstream: &str, log: &Path, faults: &[&str]) -> (std::process::Child, u16) {
    let port = free_port();
    let script = forge_testkit::fault_proxy_script();
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "--port",
            &port.to_string(),
            "--upstream",
            upstream,
            "--log",
            log.to_str().unwrap(),
        ])
        .args(faults)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    (child, port)
}

#[test]
fn faults_are_retried_and_tags_appear_only_after_the_image_is_whole() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = Flake::basic().build("big");
    build(
        &big,
        &tmp.path().join("img"),
        &tmp.path().join("cache"),
        &["--compression", "none"],
    );
    let log = tmp.path().join("proxy.jsonl");
    let (mut proxy, port) = start_proxy(
        &registry.host(),
        &log,
        &["--drop-uploads", "2", "--fail-5xx", "2", "--throttle", "2"],
    );
    let src = format!("oci:{}:v1", tmp.path().join("img").display());
    let out = forge()
        .args([
            "--json",
            "image",
            "push",
            &src,
            "--repo",
            &format!("127.0.0.1:{port}/faulty"),
            "--tag",
            "v1",
            "--jobs",
            "2",
        ])
        .output()
        .unwrap();
    let _ = proxy.kill();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(
        skopeo_digest(&format!("docker://{}/faulty:v1", registry.host())),
        r["digest"].as_str().unwrap()
    );

    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(entries.iter().any(|e| e["status"] == "dropped"));
    assert!(entries.iter().any(|e| e["status"] == 500));
    assert!(entries.iter().any(|e| e["status"] == 429));
    let tag_put = entries
        .iter()
        .position(|e| e["method"] == "PUT" && e["path"] == "/v2/faulty/manifests/v1")
        .unwrap();
    let last_blob = entries
        .iter()
        .rposition(|e| {
            e["method"] == "PUT"
                && e["path"].as_str().unwrap().contains("/blobs/uploads/")
                && e["status"] == 201
        })
        .unwrap();
    let by_digest = entries
        .iter()
        .position(|e| {
            e["method"] == "PUT"
                && e["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/v2/faulty/manifests/sha256:")
        })
        .unwrap();
    assert!(
        last_blob < by_digest && by_digest < tag_put,
        "tag pushed before the image was whole"
    );
}

#[test]
fn image_from_a_closure_runs_under_podman() {
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("SKIP: podman is not installed (scripts/install-deps installs it)");
        return;
    }
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let hello = Flake::basic().build("static-hello");
    let tag = format!("{}/hello:v1", registry.host());
    run_ok(
        forge()
            .args([
                "image",
                "push",
                &hello,
                "--repo",
                &format!("{}/hello", registry.host()),
                "--tag",
                "v1",
            ])
            .args([
                "--entrypoint",
                &format!("{hello}/bin/hello"),
                "--layer-cache",
                tmp.path().join("cache").to_str().unwrap(),
            ]),
    );
    let conf = tmp.path().join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n").unwrap();
    let out = Command::new("podman")
        .env("CONTAINERS_CONF", &conf)
        .args([
            "--root",
            tmp.path().join("root").to_str().unwrap(),
            "--runroot",
            tmp.path().join("runroot").to_str().unwrap(),
            "--storage-driver",
            "vfs",
        ])
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--tls-verify=false",
            &tag,
            "from",
            "podman",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "podman run failed: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "hello from a forge image: from podman");
}

#[test]
fn several_architectures_get_an_index() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let app = Flake::basic().build("app");
    let dir = tmp.path().join("img");
    let cache = tmp.path().join("cache");
    for arch in ["amd64", "arm64"] {
        run_ok(
            forge()
                .args([
                    "image",
                    "build",
                    &app,
                    "--arch",
                    arch,
                    "--out",
                    &format!("oci:{}:{arch}", dir.display()),
                ])
                .args(["--layer-cache", cache.to_str().unwrap()]),
        );
    }
    let r = json(&run_ok(
        forge()
            .env("FORGE_GIT_SHA", "89abcdef0123456789abcdef0123456789abcdef")
            .args([
                "--json",
                "image",
                "push",
                &format!("oci:{}:amd64", dir.display()),
                &format!("oci:{}:arm64", dir.display()),
            ])
            .args([
                "--repo",
                &format!("{}/multi", registry.host()),
                "--layer-cache",
                cache.to_str().unwrap(),
            ]),
    ));
    assert_eq!(r["tags"], serde_json::json!(["89abcde", "latest"]));
    assert_eq!(
        r["images"][0]["tags"],
        serde_json::json!(["amd64-89abcde", "amd64-latest"])
    );
    assert_eq!(
        r["images"][1]["tags"],
        serde_json::json!(["arm64-89abcde", "arm64-latest"])
    );
    let raw = json(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/multi:latest", registry.host()),
    ])));
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let arches: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    assert_eq!(raw["manifests"][1]["digest"], r["images"][1]["digest"]);
    let arm = run_ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--override-arch",
        "arm64",
        "--tls-verify=false",
        &format!("docker://{}/multi:89abcde", registry.host()),
    ]));
    assert_eq!(json(&arm)["architecture"], "arm64");
}

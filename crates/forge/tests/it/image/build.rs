//! Building images: layout contents, reproducibility, layer limits, inputs.

use std::path::Path;
use std::process::Command;

use super::{build, json, skopeo_digest};
use crate::support::registry::Registry;
use crate::support::{forge, run_ok, stderr, Flake};

#[test]
fn built_image_is_readable_by_skopeo_and_umoci_and_reproducible() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let app = flake.build("app");
    let a = build(
        &app,
        &tmp.path().join("a"),
        &tmp.path().join("cache-a"),
        &["--expose", "8080", "--env", "MODE=test"],
    );
    // Another directory, another (empty) layer cache, later: the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build(
        &app,
        &tmp.path().join("b"),
        &tmp.path().join("cache-b"),
        &["--expose", "8080", "--env", "MODE=test"],
    );
    assert_eq!(a["manifest"]["digest"], b["manifest"]["digest"]);
    let digest = a["manifest"]["digest"].as_str().unwrap();
    let hex = digest.trim_start_matches("sha256:");
    let ma = std::fs::read(tmp.path().join("a/blobs/sha256").join(hex)).unwrap();
    let mb = std::fs::read(tmp.path().join("b/blobs/sha256").join(hex)).unwrap();
    assert_eq!(ma, mb, "manifests differ byte for byte");

    let layout = format!("oci:{}:v1", tmp.path().join("a").display());
    assert_eq!(skopeo_digest(&layout), digest);
    let config = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", &layout]),
    ));
    assert_eq!(config["config"]["Entrypoint"][0], format!("{app}/bin/app"));
    assert!(config["config"]["ExposedPorts"]["8080/tcp"].is_object());

    let bundle = tmp.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .args([
                "unpack",
                "--image",
                &format!("{}:v1", tmp.path().join("a").display()),
            ])
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs
        .join(app.trim_start_matches('/'))
        .join("bin/app")
        .exists());
    let lib = std::fs::read_to_string(Path::new(&app).join("lib-path")).unwrap();
    assert!(rootfs
        .join(lib.trim().trim_start_matches('/'))
        .join("nested/a/b/deep")
        .exists());
    assert!(rootfs.join("tmp").is_dir());

    // The cache: a rebuild compresses nothing.
    let again = build(
        &app,
        &tmp.path().join("c"),
        &tmp.path().join("cache-a"),
        &["--expose", "8080", "--env", "MODE=test"],
    );
    assert!(again["image"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["cached"] == true));
}

#[test]
fn layer_limit_is_respected() {
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let wide = flake.build("wide");
    let r = build(
        &wide,
        &tmp.path().join("img"),
        &tmp.path().join("cache"),
        &["--max-layers", "10", "--compression", "zstd"],
    );
    let layers = r["image"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 10);
    let paths: u64 = layers
        .iter()
        .map(|l| l["store_paths"].as_u64().unwrap())
        .sum();
    assert_eq!(paths, 121);
    let raw = json(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci:{}:v1", tmp.path().join("img").display()),
    ])));
    assert_eq!(
        raw["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let app = Flake::basic().build("app");
    let fails = |args: &[&str]| {
        let out = forge().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        stderr(&out)
    };
    let out = format!("oci:{}:v1", tmp.path().join("img").display());
    let err = fails(&[
        "image",
        "build",
        &app,
        "--out",
        &format!("oci:{}:-bad", tmp.path().display()),
    ]);
    assert!(
        err.contains("--out") || err.contains("not a valid OCI tag"),
        "{err}"
    );
    let err = fails(&[
        "image",
        "push",
        &app,
        "--repo",
        "127.0.0.1:1/x",
        "--tag=-bad",
    ]);
    assert!(err.contains("not a valid OCI tag"), "{err}");
    let err = fails(&[
        "image",
        "push",
        &format!("oci:{}", tmp.path().display()),
        "--repo",
        "127.0.0.1:1/x",
    ]);
    assert!(err.contains("not an OCI image layout"), "{err}");
    let err = fails(&[
        "image",
        "build",
        "/nix/store/00000000000000000000000000000000-nope",
        "--out",
        &out,
    ]);
    assert!(err.contains("not a valid path"), "{err}");
    let err = fails(&[
        "image",
        "push",
        &app,
        "--repo",
        "registry.invalid:5000/x",
        "--layer-cache",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(err.contains("registry.invalid"), "{err}");
    let err = fails(&["image", "push", &app, "--repo", "127.0.0.1:5000/x:tag"]);
    assert!(err.contains("not a repository"), "{err}");
}

#[test]
fn docker_archive_input_is_imported_and_pushed() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let app = Flake::basic().build("app");
    build(
        &app,
        &tmp.path().join("img"),
        &tmp.path().join("cache"),
        &[],
    );
    let archive = tmp.path().join("image.tar");
    run_ok(
        Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:v1", tmp.path().join("img").display()))
            .arg(format!("docker-archive:{}:demo:v1", archive.display())),
    );
    let r = json(&run_ok(forge().args([
        "--json",
        "image",
        "push",
        &format!("docker-archive:{}", archive.display()),
        "--repo",
        &format!("{}/archived", registry.host()),
        "--tag",
        "v1",
    ])));
    assert_eq!(
        skopeo_digest(&format!("docker://{}/archived:v1", registry.host())),
        r["digest"].as_str().unwrap()
    );
}

/// An image layout is served and read by other users (a registry, podman
/// rootless, a web server): its files follow the umask, as `cp` would.
#[test]
fn layout_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("img");
    let cache = tmp.path().join("layer-cache");
    run_ok(
        forge()
            .args(["image", "build", &flake.installable("app")])
            .args(["--out", &format!("oci:{}:v1", layout.display())])
            .arg("--layer-cache")
            .arg(&cache),
    );
    let out = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()
        .unwrap();
    let umask = u32::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 8).unwrap();
    let mut files = Vec::new();
    let mut dirs = vec![layout.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask, "{}", f.display());
    }
}

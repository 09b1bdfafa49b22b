//! `forge image build` / `forge image push` against a real registry, read back
//! by skopeo and umoci, and run by podman.

mod build;
mod push;

use std::path::Path;
use std::process::Command;

use crate::support::{forge, run_ok, stderr, stdout};

pub fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

pub fn build(source: &str, out: &Path, cache: &Path, extra: &[&str]) -> serde_json::Value {
    json(&run_ok(
        forge()
            .args([
                "--json",
                "image",
                "build",
                source,
                "--out",
                &format!("oci:{}:v1", out.display()),
            ])
            .args(["--layer-cache", cache.to_str().unwrap()])
            .args(extra),
    ))
}

pub fn skopeo_digest(reference: &str) -> String {
    let out = run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", reference]));
    json(&out)["Digest"].as_str().unwrap().to_owned()
}

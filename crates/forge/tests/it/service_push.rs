//! `forge push <service>` and `forge config` on a deploy.yaml: the service's
//! image settings and repository come from the file, and skopeo reads back
//! what was pushed under the default tags.

use std::path::Path;
use std::process::Command;

use crate::support::registry::Registry;
use crate::support::{forge, run_ok, stderr, stdout, Flake};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

fn host_arch() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "amd64"
    }
}

fn push(config: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    forge()
        .args(["--json", "push"])
        .args(extra)
        .arg("--config")
        .arg(config)
        .arg("--layer-cache")
        .arg(cache)
        .env("FORGE_GIT_SHA", SHA)
        .output()
        .unwrap()
}

#[test]
fn push_builds_the_service_with_its_settings_and_tags_it() {
    let registry = Registry::start();
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("deploy.yaml");
    std::fs::write(
        &config,
        format!(
            "flake: path:{}\nregistry: {}/team\nenvironments:\n  staging: {{}}\nservices:\n  app:\n    image:\n      expose: [8080]\n      env: {{MODE: test}}\n      labels: {{org.example.service: app}}\n",
            flake.dir.path().display(),
            registry.host()
        ),
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let out = push(&config, &cache, &["app", "--env", "staging"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let repo = format!("{}/team/app", registry.host());
    let arch = host_arch();
    assert_eq!(report["repository"], repo.as_str());
    assert_eq!(report["service"], "app");
    assert_eq!(
        report["tags"],
        serde_json::json!([format!("{arch}-0123456"), format!("{arch}-latest")])
    );
    let digest = report["digest"].as_str().unwrap();
    for tag in report["tags"].as_array().unwrap() {
        let reference = format!("docker://{repo}:{}", tag.as_str().unwrap());
        let inspect = json(&run_ok(Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            &reference,
        ])));
        assert_eq!(inspect["Digest"], digest, "{reference}");
    }
    let config_blob = json(&run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{repo}:{arch}-latest"),
    ])));
    let c = &config_blob["config"];
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c}");
    assert!(c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "MODE=test"));
    assert_eq!(c["Labels"]["org.example.service"], "app");
    assert!(c["Entrypoint"][0].as_str().unwrap().ends_with("/bin/app"));

    // Again: same digest, nothing uploaded.
    let again = json(&run_ok(&mut {
        let mut c = forge();
        c.args(["--json", "push", "app", "--config"])
            .arg(&config)
            .arg("--layer-cache")
            .arg(&cache)
            .env("FORGE_GIT_SHA", SHA);
        c
    }));
    assert_eq!(again["digest"], digest);
    assert_eq!(again["bytes_uploaded"], 0);
}

#[test]
fn push_names_the_file_and_suggests_for_unknown_names() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("deploy.yaml");
    std::fs::write(
        &config,
        "registry: 127.0.0.1:1/team\nenvironments:\n  staging: {}\nservices:\n  app: {}\n",
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let out = push(&config, &cache, &["apq"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:4:1: no service `apq` in services: (known: app)",
            config.display()
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `app`?"), "{err}");
    let out = push(&config, &cache, &["app", "--env", "stagign"]);
    let err = stderr(&out);
    assert!(err.contains("no environment `stagign`"), "{err}");
    assert!(err.contains("did you mean `staging`?"), "{err}");

    std::fs::write(&config, "services:\n  app:\n    imag: {}\n").unwrap();
    let out = push(&config, &cache, &["app"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:3:5: services.app: unknown field `imag`",
            config.display()
        )),
        "{err}"
    );
}

#[test]
fn config_validate_prints_the_summary_and_schema_is_json() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/deploy.yaml");
    let out = run_ok(
        forge()
            .args(["config", "validate"])
            .env("FORGE_CONFIG", &example),
    );
    let text = stdout(&out);
    assert!(text.contains("2 service(s) x 3 environment(s)"), "{text}");
    assert!(
        text.contains("clusters/production/apps/api/kustomization.yaml"),
        "{text}"
    );
    let resolved = json(&run_ok(
        forge()
            .args(["--json", "config", "validate", "--config"])
            .arg(&example),
    ));
    assert_eq!(
        resolved["services"]["app"]["repository"],
        "ghcr.io/example/app"
    );
    let schema = json(&run_ok(forge().args(["config", "schema"])));
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

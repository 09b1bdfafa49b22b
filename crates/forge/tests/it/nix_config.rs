//! Forge's configuration as a flake output: `forgeConfigurations.<name>`
//! built with forge.lib.forgeConfiguration, whose options are generated from
//! deploy.yaml's JSON Schema, read with `--config flake:REF#NAME`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::nix_lib::{eval, nixpkgs_lib, repo};
use crate::support::{forge, run_ok, stderr, stdout};

/// The forge flake's Nix side (no Rust sources, no target/), in `dir`.
pub fn copy_forge_flake(dir: &Path) {
    let root = repo();
    let schema = "crates/forge-core/src/deploy_config/deploy.schema.json";
    for rel in [
        "flake.nix",
        "flake.lock",
        "lib",
        "modules",
        "nix",
        "checks",
        "templates",
        schema,
    ] {
        copy(&root.join(rel), &dir.join(rel));
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

const FLAKE: &str = r#"{
  inputs.nixpkgs.url = "path:@NIXPKGS_LIB@";
  inputs.forge.url = "path:@FORGE@";
  inputs.forge.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { self, nixpkgs, forge }:
    let
      sh = name: system: derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" "echo ${name} > $out" ];
      };
      configure = modules: forge.lib.forgeConfiguration { inherit self modules; };
    in {
      packages.x86_64-linux = { api = sh "api" "x86_64-linux"; worker = sh "worker" "x86_64-linux"; };
      packages.aarch64-linux.api = sh "api" "aarch64-linux";
      forgeConfigurations = {
        default = configure [ ./forge.nix ];
        typo = configure [ { services.api.imag.tags = [ "x" ]; } ];
        bad-registry = configure [ { registry = "https://ghcr.io/org"; services.api = { }; } ];
        bad-pattern = configure [ { registry = "r"; services.api.image.tags = [ "{nope}" ]; } ];
        inline-secret = configure [ { services.api = { }; cache = { url = "attic://a/main"; token = "s3cr3t-value"; }; } ];
      };
    };
}
"#;

const MODULE: &str = r#"{ self, ... }: {
  registry = "ghcr.io/org";
  cache = { url = "attic://attic.example.com/main"; token_env = "ATTIC_TOKEN"; };
  gitops = { repo = "https://git.example.com/gitops.git"; branch = "deploy"; auth.token_env = "GITOPS_TOKEN"; };
  ledger.path = "forge-ledger.db";
  environments = {
    staging = { };
    production = {
      kube = { context = "prod"; namespace = "apps"; };
      timeouts.rollout = "15m";
      flux.kustomization = "apps/{env}";
    };
  };
  services.api = {
    package = self.packages.x86_64-linux.api;
    image = {
      arch = [ "amd64" "arm64" ];
      expose = [ 8080 ];
      env.RUST_LOG = "info";
      tags = [ "{arch}-{gitsha7}" ];
    };
    rollback = "auto";
    verify = [ { name = "health"; http = { url = "https://{service}.{env}.example.com/healthz"; status = 204; }; count = 3; } ];
    migrations = { command = [ "api" "migrate" ]; timeout = "5m"; };
  };
  services.worker = {
    attr = "worker";
    depends_on = [ "api" ];
    workload = { kind = "StatefulSet"; name = "worker"; };
    image.arch = "amd64";
  };
}
"#;

/// The same configuration, as deploy.yaml.
const YAML: &str = r#"flake: "path:@DIR@"
registry: ghcr.io/org
cache: { url: "attic://attic.example.com/main", token_env: ATTIC_TOKEN }
gitops:
  repo: https://git.example.com/gitops.git
  branch: deploy
  auth: { token_env: GITOPS_TOKEN }
ledger: { path: forge-ledger.db }
environments:
  staging:
  production:
    kube: { context: prod, namespace: apps }
    timeouts: { rollout: 15m }
    flux: { kustomization: "apps/{env}" }
services:
  api:
    attr: api
    image:
      arch: [amd64, arm64]
      expose: [8080]
      env: { RUST_LOG: info }
      tags: ["{arch}-{gitsha7}"]
    rollback: auto
    verify:
      - name: health
        http: { url: "https://{service}.{env}.example.com/healthz", status: 204 }
        count: 3
    migrations: { command: [api, migrate], timeout: 5m }
  worker:
    attr: worker
    depends_on: [api]
    workload: { kind: StatefulSet, name: worker }
    image: { arch: amd64 }
"#;

struct TestFlake {
    dir: tempfile::TempDir,
}

impl TestFlake {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let forge_dir = dir.path().join("forge");
        copy_forge_flake(&forge_dir);
        let app = dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        let flake = FLAKE
            .replace("@NIXPKGS_LIB@", nixpkgs_lib().to_str().unwrap())
            .replace("@FORGE@", forge_dir.to_str().unwrap());
        std::fs::write(app.join("flake.nix"), flake).unwrap();
        std::fs::write(app.join("forge.nix"), MODULE).unwrap();
        Self { dir }
    }

    fn app(&self) -> std::path::PathBuf {
        self.dir.path().join("app")
    }

    fn config(&self, name: &str) -> String {
        format!("flake:path:{}#{name}", self.app().display())
    }
}

fn validate(config: &str) -> std::process::Output {
    forge()
        .args(["--json", "config", "validate", "--config", config])
        .output()
        .unwrap()
}

/// The flake's configuration resolves exactly as the equivalent deploy.yaml.
#[test]
fn flake_configuration_resolves_like_deploy_yaml() {
    let flake = TestFlake::new();
    let out = validate(&flake.config("default"));
    assert!(out.status.success(), "{}", stderr(&out));
    let from_flake: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        from_flake["services"]["api"]["migrations"].is_array(),
        "{from_flake}"
    );

    let yaml = flake.dir.path().join("deploy.yaml");
    let flake_ref = format!("path:{}", flake.app().display());
    std::fs::write(
        &yaml,
        YAML.replace("@DIR@", flake_ref.trim_start_matches("path:")),
    )
    .unwrap();
    let out = validate(yaml.to_str().unwrap());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut from_yaml: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Only where it was read from differs.
    assert_eq!(from_flake["file"], flake.config("default"));
    from_yaml["file"] = from_flake["file"].clone();
    assert_eq!(from_flake, from_yaml);
    // `package` became the attribute it is found under, for both systems.
    let text = from_flake.to_string();
    assert!(
        text.contains(&format!("{flake_ref}#packages.aarch64-linux.api")),
        "{text}"
    );
}

/// Errors: the module system's own, verbatim; those found by Forge's reader name the option.
#[test]
fn flake_configuration_errors_name_the_option() {
    let flake = TestFlake::new();
    let out = validate(&flake.config("typo"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("The option `services.api.imag' does not exist"),
        "{err}"
    );
    assert!(err.contains("forgeConfigurations.typo"), "{err}");
    // Nix's error from its first line; its warnings are not part of it.
    assert!(!err.contains("warning:"), "{err}");

    let out = validate(&flake.config("bad-registry"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}: option `registry`: registry `https://ghcr.io/org`",
            flake.config("bad-registry")
        )),
        "{err}"
    );

    let out = validate(&flake.config("bad-pattern"));
    let err = stderr(&out);
    assert!(
        err.contains("option `services.api.image.tags`: services.api: tag template \"{nope}\""),
        "{err}"
    );

    // A secret written inline: refused, and not repeated.
    let out = validate(&flake.config("inline-secret"));
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("cache.token: secrets are never written inline"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-value"), "{err}");

    let out = validate(&flake.config("missing"));
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("missing"), "{err}");
}

/// The generated options and the schema, compared both ways: the same
/// paths, descriptions, defaults and enumerations.
#[test]
fn options_match_the_schema_both_ways() {
    let docs = eval(
        r#"map (o: { inherit (o) name type; description = o.description or null; default = o.default.text or null; })
          (builtins.filter (o: o.visible && !o.internal && !lib.hasPrefix "_module" o.name)
            (lib.optionAttrSetToDocList (forge.evalForgeConfiguration { modules = [ ]; }).options))"#,
    );
    let mut nix: BTreeMap<String, Value> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_owned(), o.clone()))
        .collect();
    // The one Nix-only option.
    assert!(nix.remove("services.<name>.package").is_some());

    let schema: Value = serde_json::from_str(forge_core::deploy_config::SCHEMA).unwrap();
    let mut paths = BTreeMap::new();
    walk(&schema, &schema, "", &mut paths);
    assert_eq!(
        nix.keys().collect::<BTreeSet<_>>(),
        paths.keys().collect::<BTreeSet<_>>(),
        "option paths differ from the schema's"
    );
    for (path, s) in &paths {
        let o = &nix[path];
        if let Some(d) = s["description"].as_str() {
            assert_eq!(o["description"].as_str(), Some(d), "{path}: description");
        }
        // Unset options are null (Forge applies the default, which the docs show).
        let nix_default = o["default"].as_str().filter(|d| *d != "null");
        assert_eq!(
            s.get("default").is_some(),
            nix_default.is_some(),
            "{path}: default {o}"
        );
        if let Some(default) = s
            .get("default")
            .filter(|d| d.is_string() || d.is_number() || d.is_boolean())
        {
            assert_eq!(
                nix_default,
                Some(default.to_string().as_str()),
                "{path}: default"
            );
        }
        for word in s["enum"].as_array().into_iter().flatten() {
            assert!(
                o["type"].as_str().unwrap().contains(&word.to_string()),
                "{path}: {o}"
            );
        }
        if let Some(p) = s["pattern"].as_str() {
            let p = p.trim_start_matches('^').trim_end_matches('$');
            assert!(o["type"].as_str().unwrap().contains(p), "{path}: {o}");
        }
    }
}

/// Option paths as the module system's docs name them (`<name>` for map
/// entries, `*` for list items), with the schema node each one is.
fn walk(root: &Value, s: &Value, at: &str, out: &mut BTreeMap<String, Value>) {
    let s = deref(root, s);
    if let Some(branches) = s["anyOf"].as_array().or(s["oneOf"].as_array()) {
        let branches: Vec<Value> = branches
            .iter()
            .map(|b| deref(root, b))
            .filter(|b| b["type"] != "null")
            .collect();
        // "one object or a list of them" is a list in Nix.
        let one_or_many = branches.len() == 2
            && branches[0]["type"] == "object"
            && branches[1]["type"] == "array";
        for b in branches.iter().skip(usize::from(one_or_many)) {
            walk(root, b, at, out);
        }
        return;
    }
    match s["type"].as_str() {
        Some("object") => {
            if let Some(props) = s["properties"].as_object() {
                for (k, p) in props {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    let mut node = deref(root, p);
                    // A $ref's siblings (its description) win, as in the schema.
                    if let (Some(n), Some(p)) = (node.as_object_mut(), p.as_object()) {
                        for (k, v) in p.iter().filter(|(k, _)| *k != "$ref") {
                            n.insert(k.clone(), v.clone());
                        }
                    }
                    out.insert(path.clone(), node);
                    walk(root, p, &path, out);
                }
            } else if s["additionalProperties"].is_object() {
                walk(
                    root,
                    &s["additionalProperties"],
                    &format!("{at}.<name>"),
                    out,
                );
            }
        }
        Some("array") => walk(root, &s["items"], &format!("{at}.*"), out),
        _ => {}
    }
}

fn deref(root: &Value, s: &Value) -> Value {
    match s["$ref"].as_str() {
        Some(r) => deref(root, root.pointer(r.trim_start_matches('#')).unwrap()),
        None => s.clone(),
    }
}

/// `forge` reads a flake configuration with nothing else around: the
/// stdout of a failed evaluation is empty and nothing is written.
#[test]
fn flake_configuration_needs_no_deploy_yaml() {
    let flake = TestFlake::new();
    let out = run_ok(forge().current_dir(flake.app()).args([
        "config",
        "validate",
        "--config",
        "flake:.#default",
    ]));
    let text = stdout(&out);
    assert!(text.contains("api") && text.contains("worker"), "{text}");
}

/// forge.lib.configurationCheck: the flake check users add runs Forge's
/// reader over the rendered configuration (here with writers that are
/// builtins and this build of forge), passing a good configuration and
/// failing a bad one.
#[test]
fn configuration_check_runs_forges_reader() {
    let flake = TestFlake::new();
    // builtins.getFlake takes locked flakes only.
    run_ok(crate::support::nix().args([
        "flake",
        "lock",
        &format!("path:{}", flake.app().display()),
    ]));
    let pkg = tempfile::tempdir().unwrap();
    std::fs::create_dir(pkg.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forge"), pkg.path().join("bin/forge")).unwrap();
    let script = |name: &str| {
        let v = eval(&format!(
            r#"forge.configurationCheck {{
              pkgs = {{ writeText = builtins.toFile; runCommand = _name: _env: script: script; }};
              forge = {{ type = "derivation"; name = "forge"; outPath = "{pkg}"; meta.mainProgram = "forge"; }};
              configuration = (builtins.getFlake "path:{app}").forgeConfigurations.{name};
            }}"#,
            pkg = pkg.path().display(),
            app = flake.app().display(),
        ));
        v.as_str().unwrap().to_owned()
    };
    let out_file = flake.dir.path().join("out");
    let run = |script: &str| {
        forge_command_env(std::process::Command::new("sh").args(["-c", script]))
            .env("out", &out_file)
            .output()
            .unwrap()
    };
    let out = run(&script("default"));
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        summary.contains("api") && summary.contains("worker"),
        "{summary}"
    );

    let out = run(&script("bad-registry"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("registry `https://ghcr.io/org`"),
        "{}",
        stderr(&out)
    );
}

/// The environment `forge()` runs with, for a command that runs forge itself.
fn forge_command_env(c: &mut std::process::Command) -> &mut std::process::Command {
    c.env("NIX_CONFIG", crate::support::NIX_CONFIG)
        .env_remove("ATTIC_TOKEN")
        .env_remove("RUST_LOG")
}

/// Release commands take the flake configuration too: its plan, and its
/// `ledger:` (a path relative to the flake) rather than the default ledger.
#[test]
fn release_commands_read_a_flake_configuration_and_its_ledger() {
    let flake = TestFlake::new();
    let out = run_ok(forge().current_dir(flake.app()).args([
        "--json",
        "release",
        "plan",
        "api",
        "worker",
        "--env",
        "staging",
        "--config",
        "flake:.#default",
    ]));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"api/staging/migrate-before"), "{keys:?}");
    assert!(keys.contains(&"worker/staging/pin"), "{keys:?}");
    let out = run_ok(
        forge()
            .current_dir(flake.app())
            .env_remove("FORGE_LEDGER")
            .args(["release", "list", "--config", "flake:.#default"]),
    );
    assert!(out.status.success());
    assert!(
        flake.app().join("forge-ledger.db").exists(),
        "the configuration's ledger.path, relative to the flake"
    );
}

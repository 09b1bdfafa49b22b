//! The flake's Nix library (`lib/`), evaluated by real Nix with nixpkgs'
//! `lib` (../shared/nixpkgs-lib, or FORGE_NIXPKGS_LIB: a nixpkgs checkout or
//! a nixpkgs.lib tree), and checked against the Rust side it mirrors.

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_core::choice::Choice as _;
use forge_core::oci::image_config::Arch;

use crate::support::{nix, run_ok, stderr, Flake};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A tree holding nixpkgs' `lib/` (`<it>/lib/default.nix`).
pub fn nixpkgs_lib() -> PathBuf {
    let dir = std::env::var_os("FORGE_NIXPKGS_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/nixpkgs-lib"));
    assert!(
        dir.join("lib/default.nix").exists(),
        "no nixpkgs lib at {} (set FORGE_NIXPKGS_LIB to a nixpkgs checkout or a nixpkgs.lib tree)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// `nix eval --json` of `expr`, in which `lib` is nixpkgs' lib and `forge` this repository's lib.
pub fn eval(expr: &str) -> serde_json::Value {
    let out = run_ok(&mut eval_command(expr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn eval_command(expr: &str) -> Command {
    let full = format!(
        "let lib = import {}/lib; forge = import {}/lib {{ inherit lib; }}; in {expr}",
        nixpkgs_lib().display(),
        repo().display()
    );
    let mut c = nix();
    c.args(["eval", "--json", "--impure", "--expr", &full]);
    c
}

/// Runs a file of `lib.runTests` cases under checks/ and fails with the failing cases.
pub fn run_tests(file: &str) {
    let failures = eval(&format!(
        "import {}/checks/{file} {{ inherit lib; }}",
        repo().display()
    ));
    let failures = failures.as_array().expect("runTests returns a list");
    assert!(
        failures.is_empty(),
        "checks/{file}: {} failing case(s):\n{}",
        failures.len(),
        serde_json::to_string_pretty(failures).unwrap()
    );
}

#[test]
fn lib_tests_pass() {
    run_tests("lib-tests.nix");
}

#[test]
fn lib_errors_say_what_to_change() {
    let out = eval_command(r#"forge.substituterSettings { url = "s3://x"; publicKey = "k:x"; }"#)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("url must be file://"),
        "{}",
        stderr(&out)
    );
    let out = eval_command(r#"forge.platform.ociPlatform "riscv64-linux""#)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains(
            "no OCI platform for system \"riscv64-linux\" (known: x86_64-linux, aarch64-linux)"
        ),
        "{}",
        stderr(&out)
    );
}

/// lib/platform.nix and forge_core's Arch are one table.
#[test]
fn platform_table_agrees_with_rust() {
    let table = eval("forge.platform.table");
    let nix: Vec<(String, String, String)> = table
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["system"].as_str().unwrap().to_owned(),
                p["os"].as_str().unwrap().to_owned(),
                p["architecture"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rust: Vec<(String, String, String)> = Arch::ALL
        .iter()
        .map(|a| {
            (
                a.nix_system().to_owned(),
                "linux".to_owned(),
                a.as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(nix, rust);

    // Every spelling Nix accepts, deploy.yaml resolves to the same system.
    for p in table.as_array().unwrap() {
        let mut names = vec![p["architecture"].as_str().unwrap().to_owned()];
        names.extend(
            p["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned()),
        );
        for name in names {
            let yaml = format!("registry: r\nservices:\n  app:\n    image: {{arch: {name}}}\n");
            let config =
                forge_core::deploy_config::DeployConfig::parse(&yaml, "deploy.yaml", Arch::Amd64)
                    .unwrap();
            let installables = &config.service("app").unwrap().installables;
            let system = p["system"].as_str().unwrap();
            assert_eq!(
                installables.values().collect::<Vec<_>>(),
                [&format!(".#packages.{system}.app")],
                "{name}"
            );
            assert_eq!(eval(&format!("forge.platform.systemOf {name:?}")), system);
        }
    }
}

/// forge.lib.image.buildArgs gives `forge image build` arguments that land in the image.
#[test]
fn image_build_args_drive_forge_image_build() {
    let args = eval(
        r#"forge.image.buildArgs {
          entrypoint = [ "/bin/hello" "--loud" ];
          cmd = [ "world" ];
          env.MODE = "test";
          labels."org.opencontainers.image.title" = "hello";
          expose = [ 8080 "53/udp" ];
          workdir = "/srv";
          user = "1000:1000";
          max_layers = 4;
          compression = "zstd";
          arch = "amd64";
        }"#,
    );
    let args: Vec<String> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let flake = Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = crate::image::build(
        &flake.installable("static-hello"),
        &tmp.path().join("img"),
        &tmp.path().join("cache"),
        &arg_refs,
    );
    assert!(built["manifest"]["digest"].is_string(), "{built}");
    let layout = format!("oci:{}:v1", tmp.path().join("img").display());
    let config = crate::image::json(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", &layout]),
    ));
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/hello", "--loud"]));
    assert_eq!(c["Cmd"], serde_json::json!(["world"]));
    assert!(
        c["Env"].as_array().unwrap().contains(&"MODE=test".into()),
        "{c}"
    );
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "hello");
    assert!(
        c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object(),
        "{c}"
    );
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(config["architecture"], "amd64");
    let manifest = crate::image::json(&run_ok(
        Command::new("skopeo").args(["inspect", "--raw", &layout]),
    ));
    let layers = manifest["layers"].as_array().unwrap();
    assert!(layers.len() <= 4, "{manifest}");
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"].as_str().unwrap().ends_with("+zstd")),
        "{manifest}"
    );
}

/// Every Nix file in the repository parses (Nix 2.8's parser).
#[test]
fn every_nix_file_parses() {
    let mut files = vec![];
    collect_nix(&repo(), &mut files);
    for expected in [
        "flake.nix",
        "lib/default.nix",
        "modules/provision.nix",
        "templates/default/flake.nix",
    ] {
        assert!(
            files.contains(&repo().join(expected)),
            "{expected} not found in {files:?}"
        );
    }
    for file in &files {
        let out = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
    }
}

fn collect_nix(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy();
        if p.is_dir() && name != "target" && name != ".git" {
            collect_nix(&p, out);
        } else if p.extension().is_some_and(|x| x == "nix") {
            out.push(p);
        }
    }
}

/// The forge flake's outputs that need no packages, evaluated through the
/// flake itself with nixpkgs replaced by nixpkgs' lib: `lib`, `templates`,
/// and `nixosModules.default` (with stand-ins for NixOS), whose units run
/// the packages they are given.
#[test]
fn flake_outputs_evaluate_without_nixpkgs() {
    let tmp = tempfile::tempdir().unwrap();
    crate::nix_config::copy_forge_flake(tmp.path());
    let flake = format!("path:{}", tmp.path().display());
    let nixpkgs = format!("path:{}", nixpkgs_lib().display());
    let eval_flake = |attr: &str, apply: &str| {
        let out = run_ok(
            nix()
                .args(["eval", "--json", "--impure", &format!("{flake}#{attr}")])
                .args(["--override-input", "nixpkgs", &nixpkgs])
                .args(["--apply", apply]),
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(
        eval_flake("lib", "l: l.platform.systems"),
        serde_json::json!(["x86_64-linux", "aarch64-linux"])
    );
    assert_eq!(
        eval_flake("nixosModules", "builtins.attrNames"),
        serde_json::json!(["agent", "cache-client", "default", "provision", "serve"])
    );
    let template = eval_flake(
        "templates.default",
        "t: { inherit (t) description; path = toString t.path; }",
    );
    let path = Path::new(template["path"].as_str().unwrap());
    for f in ["flake.nix", "forge.nix", ".github/workflows/deploy.yml"] {
        assert!(path.join(f).exists(), "template has no {f}: {template}");
    }
    let apply = format!(
        r#"m: let
          lib = import {lib}/lib;
          s = import {repo}/checks/module-stand-ins.nix {{ inherit lib; }};
          config = (lib.evalModules {{
            modules = [ s.nixosStandIns m.default {{
              services.forge.provision.package = s.fakePackage "forge-provision";
              services.forge.provision.postgres = {{ enable = true; settings.roles = [ {{ name = "app"; }} ]; }};
              services.forge.serve = {{ enable = true; package = s.fakePackage "forge"; ledger.path = "/var/lib/forge/ledger.db"; }};
            }} ];
            specialArgs.pkgs = s.pkgs;
          }}).config;
        in {{
          units = builtins.attrNames config.systemd.services;
          failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
          exec = config.systemd.services.forge-provision-postgres.serviceConfig.ExecStart;
        }}"#,
        lib = nixpkgs_lib().display(),
        repo = repo().display()
    );
    let v = eval_flake("nixosModules", &apply);
    assert_eq!(
        v["units"],
        serde_json::json!(["forge-provision-postgres", "forge-serve"])
    );
    assert_eq!(v["failed"], serde_json::json!([]));
    assert!(
        v["exec"]
            .as_str()
            .unwrap()
            .contains("-forge-provision/bin/forge-provision postgres apply --config /nix/store/"),
        "{v}"
    );
}

/// Every flake app runs a command that exists.
#[test]
fn flake_apps_name_real_commands() {
    let apps = eval(&format!("import {}/nix/apps.nix", repo().display()));
    let apps = apps.as_array().unwrap();
    for name in ["forge", "deploy", "orchestrate-release", "forge-provision"] {
        assert!(apps.iter().any(|a| a["name"] == name), "no app {name}");
    }
    for a in apps {
        assert!(!a["description"].as_str().unwrap().is_empty(), "{a}");
        match (a["program"].as_str().unwrap(), a["command"].as_str()) {
            ("forge", Some(command)) => {
                run_ok(crate::support::forge().args([command, "--help"]));
            }
            ("forge", None) | ("forge-provision", None) => {}
            other => panic!("app {a}: unexpected program/command {other:?}"),
        }
    }
}

/// forge.lib.attic against the Attic test double: `deployCache` is a cache
/// URL forge pushes to, `netrcLine` writes the netrc from a token file, and
/// `substituterSettings` (with that netrc) make real Nix substitute what
/// was pushed into a fresh store, signature checked.
#[test]
fn attic_helpers_push_and_substitute() {
    let double = crate::support::attic_double::AtticDouble::start(&["main"], &[]);
    let token = double.token(&["main:rw"]);
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("attic token");
    std::fs::write(&token_file, &token).unwrap();
    let netrc = tmp.path().join("netrc");
    let (sec, public) = crate::support::nix_keypair(tmp.path(), "forge-attic-lib-1");
    let endpoint = double.endpoint();
    let v = eval(&format!(
        r#"let a = {{ endpoint = "{endpoint}"; cache = "main"; }}; in {{
          cache = forge.attic.deployCache a;
          netrc = forge.attic.netrcLine {{ inherit (a) endpoint; tokenFile = "{token_file}"; }};
          settings = forge.attic.substituterSettings (a // {{ publicKey = "{public}"; netrcFile = "{netrc}"; }});
        }}"#,
        token_file = token_file.display(),
        netrc = netrc.display(),
    ));
    assert_eq!(v["cache"]["token_env"], "ATTIC_TOKEN");
    let text = v.to_string();
    assert!(!text.contains(&token), "a token in what the lib rendered");

    let flake = Flake::basic();
    let app = flake.build("app");
    run_ok(
        crate::support::forge()
            .env("ATTIC_TOKEN", &token)
            .args(["cache", "push", "--to", v["cache"]["url"].as_str().unwrap()])
            .args(["--signing-key", sec.to_str().unwrap(), &app]),
    );

    let line = run_ok(Command::new("sh").args(["-c", v["netrc"].as_str().unwrap()]));
    std::fs::write(&netrc, &line.stdout).unwrap();

    let mut conf = String::new();
    for (k, val) in v["settings"].as_object().unwrap() {
        let words = match val {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|w| w.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.as_str().unwrap().to_owned(),
        };
        conf.push_str(&format!("{k} = {words}\n"));
    }
    let store = tempfile::tempdir().unwrap();
    let out = Command::new("nix")
        .env(
            "NIX_CONFIG",
            format!(
                "{}trusted-public-keys =\n{conf}",
                crate::support::NIX_CONFIG
            ),
        )
        .args([
            "build",
            "--no-link",
            "--store",
            store.path().to_str().unwrap(),
            &app,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{conf}\n{}", stderr(&out));
    assert!(store
        .path()
        .join(app.trim_start_matches('/'))
        .join("bin/app")
        .exists());
}

/// The flake's Nix files are formatted as its formatter (`nix fmt`,
/// nixpkgs-fmt) has them. `FORGE_NIX_FMT=write` rewrites them in place.
#[test]
fn nix_files_are_formatted() {
    let mut files = vec![repo().join("flake.nix")];
    for dir in ["lib", "modules", "nix", "checks", "templates"] {
        collect_nix(&repo().join(dir), &mut files);
    }
    let write = std::env::var("FORGE_NIX_FMT").as_deref() == Ok("write");
    let mut unformatted = vec![];
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let formatted = nixpkgs_fmt::reformat_string(&text);
        if formatted != text {
            if write {
                std::fs::write(file, &formatted).unwrap();
            }
            unformatted.push(file.strip_prefix(repo()).unwrap().display().to_string());
        }
    }
    assert!(
        write || unformatted.is_empty(),
        "not formatted (run `nix fmt`, or FORGE_NIX_FMT=write cargo test -- nix_files_are_formatted): {unformatted:?}"
    );
}

//! The NixOS modules, evaluated with nixpkgs' lib.evalModules against
//! stand-ins for the NixOS options they set (checks/module-tests.nix): the
//! rendered units, timers and files, the assertions' messages, and that
//! secrets stay out of what is rendered.

use std::process::Command;

use forge_core::exit_status::ExitStatus;
use forge_testkit::attic_double::AtticDouble;

use crate::nix_lib::{eval, eval_command, repo, run_tests};
use crate::support::stderr;

#[test]
fn module_tests_pass() {
    run_tests("module-tests.nix");
}

/// A module with a mistyped option fails evaluation naming the option.
#[test]
fn module_option_typos_are_named() {
    let expr = format!(
        r#"(lib.evalModules {{ modules = [ {repo}/modules/serve.nix {{ options.assertions = lib.mkOption {{ }}; options.systemd = lib.mkOption {{ }}; }} {{ services.forge.serve.listne = "x"; }} ]; specialArgs.pkgs = {{ }}; }}).config.services.forge.serve.listen"#,
        repo = repo().display()
    );
    let out = eval_command(&expr).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("The option `services.forge.serve.listne' does not exist"),
        "{}",
        stderr(&out)
    );
}

/// The modules' option declarations all evaluate (types and descriptions included).
#[test]
fn every_module_option_is_described() {
    let docs = eval(&format!(
        r#"let
          e = lib.evalModules {{
            modules = [
              {repo}/modules/cache-client.nix {repo}/modules/provision.nix {repo}/modules/serve.nix
              {{ options.assertions = lib.mkOption {{ }}; options.systemd = lib.mkOption {{ }}; options.nix = lib.mkOption {{ }}; }}
            ];
            specialArgs.pkgs = {{ }};
          }};
        in map (o: {{ inherit (o) name description type; }})
          (builtins.filter (o: o.visible && !o.internal && lib.hasPrefix "services.forge." o.name) (lib.optionAttrSetToDocList e.options))"#,
        repo = repo().display()
    ));
    let docs = docs.as_array().unwrap();
    assert!(docs.len() > 25, "{docs:?}");
    for o in docs {
        let d = o["description"].as_str().unwrap_or_default();
        assert!(!d.trim().is_empty(), "{} has no description", o["name"]);
    }
}

/// forge-provision as this workspace built it (beside the test binary).
fn forge_provision_dir() -> tempfile::TempDir {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("forge-provision");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first (cargo test --workspace builds it)",
        bin.display()
    );
    // Laid out as a package: <dir>/bin/forge-provision.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(&bin, dir.path().join("bin/forge-provision")).unwrap();
    dir
}

/// The provision unit's ExecStart, as the module renders it, run for real:
/// forge-provision on the rendered spec against the Attic test double, in
/// check mode (drift: the "changes pending" status, and the metric), then
/// apply, then check again (converged).
#[test]
fn provision_unit_runs_and_reports_drift() {
    let pkg = forge_provision_dir();
    let tmp = tempfile::tempdir().unwrap();
    let double = AtticDouble::start("c2VjcmV0LWZvci10ZXN0cy0xMjM0NTY3ODkwMTIzNDU2", &[], &[]);
    let admin = double.token(&["*:r,w,cc,cr,cq"]);
    let token_file = tmp.path().join("admin-token");
    std::fs::write(&token_file, &admin).unwrap();
    let metrics = tmp.path().join("metrics");
    std::fs::create_dir(&metrics).unwrap();
    let units = eval(&format!(
        r#"let
          s = import {repo}/checks/module-stand-ins.nix {{ inherit lib; }};
          unit = mode: (s.eval [ {{
            services.forge.provision = {{
              package = {{ type = "derivation"; name = "forge-provision"; outPath = "{pkg}"; }};
              metrics.textfileDirectory = "{metrics}";
              attic = {{
                enable = true;
                inherit mode;
                # A dead server fails within this (the last case below).
                extraArgs = [ "--wait" "1" ];
                settings = {{
                  server = {{ endpoint = "{endpoint}"; token_file = "{token}"; }};
                  caches = [ {{ name = "main"; priority = 41; }} ];
                }};
              }};
            }};
          }} ]).systemd.services.forge-provision-attic.serviceConfig;
        in {{ check = unit "check"; apply = unit "apply"; }}"#,
        repo = repo().display(),
        pkg = pkg.path().display(),
        metrics = metrics.display(),
        endpoint = double.endpoint(),
        token = token_file.display(),
    ));
    let pending = i64::from(ExitStatus::ChangesPending.code());
    assert_eq!(
        units["check"]["SuccessExitStatus"],
        serde_json::json!([pending])
    );
    assert_eq!(units["apply"]["SuccessExitStatus"], serde_json::json!([]));

    let run = |mode: &str| {
        let script = units[mode]["ExecStart"].as_str().unwrap();
        let text = std::fs::read_to_string(script).unwrap();
        assert!(!text.contains(&admin), "the token is in the unit's script");
        let out = Command::new("sh").arg(script).output().unwrap();
        let prom = std::fs::read_to_string(metrics.join("forge-provision-attic.prom")).unwrap();
        (out.status.code(), prom, stderr(&out))
    };
    let (code, prom, err) = run("check");
    assert_eq!(code, Some(pending as i32), "{err}");
    assert!(
        prom.contains("forge_provision_drift{target=\"attic\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains("forge_provision_failed{target=\"attic\"} 0\n"),
        "{prom}"
    );
    assert!(
        prom.contains("forge_provision_last_run_timestamp_seconds{target=\"attic\"} 1"),
        "{prom}"
    );

    let (code, prom, err) = run("apply");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        prom.contains("forge_provision_drift{target=\"attic\"} 0\n"),
        "{prom}"
    );

    let (code, prom, err) = run("check");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        prom.contains("forge_provision_drift{target=\"attic\"} 0\n"),
        "{prom}"
    );
    assert_eq!(
        std::fs::read_dir(&metrics).unwrap().count(),
        1,
        "temp files left behind"
    );

    // A server that does not answer: failed, not drift.
    drop(double);
    let (code, prom, _) = run("check");
    assert_ne!(code, Some(0));
    assert!(
        prom.contains("forge_provision_failed{target=\"attic\"} 1\n"),
        "{prom}"
    );
}

/// The serve unit's start script, as the module renders it for a ledger URL
/// and a token given as credentials, run for real: forge serve answers
/// /healthz, and the API only with the token.
#[test]
fn serve_unit_runs_forge_serve_with_its_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_forge"), pkg.join("bin/forge")).unwrap();
    let deploy = tmp.path().join("deploy.yaml");
    std::fs::write(
        &deploy,
        "registry: r\nservices:\n  app: {}\nenvironments:\n  local: {cluster: false}\n",
    )
    .unwrap();
    // What systemd would put in $CREDENTIALS_DIRECTORY.
    let creds = tmp.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(
        creds.join("ledger-url"),
        tmp.path().join("ledger.db").to_str().unwrap(),
    )
    .unwrap();
    std::fs::write(creds.join("token"), "t0ken-for-tests\n").unwrap();
    let port = crate::support::free_port();
    let unit = eval(&format!(
        r#"let s = import {repo}/checks/module-stand-ins.nix {{ inherit lib; }};
        in (s.eval [ {{
          services.forge.provision.package = s.fakePackage "forge-provision";
          services.forge.serve = {{
            enable = true;
            package = {{ type = "derivation"; name = "forge"; outPath = "{pkg}"; }};
            listen = "127.0.0.1:{port}";
            config = "{deploy}";
            ledger.urlFile = "/run/secrets/ledger-url";
            tokenFile = "/run/secrets/forge-serve-token";
          }};
        }} ]).systemd.services.forge-serve.serviceConfig"#,
        repo = repo().display(),
        pkg = pkg.display(),
        deploy = deploy.display(),
    ));
    let script = unit["ExecStart"].as_str().unwrap();
    let text = std::fs::read_to_string(script).unwrap();
    assert!(
        !text.contains("t0ken-for-tests") && !text.contains("ledger.db"),
        "{text}"
    );

    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Killed(
        Command::new("sh")
            .arg(script)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .env("NIX_CONFIG", crate::support::NIX_CONFIG)
            .env_remove("FORGE_LEDGER")
            .current_dir(tmp.path())
            .spawn()
            .unwrap(),
    );
    crate::support::wait_for_port(port, "forge serve");
    let status = |path: &str, token: Option<&str>| {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ]);
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = c
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(status("/healthz", None), "200");
    assert_eq!(status("/api/v1/releases", None), "401");
    assert_eq!(status("/api/v1/releases", Some("t0ken-for-tests")), "200");
    // The SQLite ledger named by the credential is the one it opened.
    assert!(tmp.path().join("ledger.db").exists());
}

/// services.forge.cacheClient's nix.settings, given to real Nix: it
/// substitutes a closure Forge pushed into a fresh store, checking the
/// signature with the module's key, and refuses a wrong key.
#[test]
fn cache_client_settings_make_nix_substitute() {
    let flake = crate::support::Flake::basic();
    let tmp = tempfile::tempdir().unwrap();
    let (sec, public) = crate::support::nix_keypair(tmp.path(), "forge-module-1");
    let (_, other) = crate::support::nix_keypair(tmp.path(), "forge-module-other");
    let cache = format!("file://{}/cache", tmp.path().display());
    let app = flake.build("app");
    crate::support::run_ok(crate::support::forge().args([
        "cache",
        "push",
        "--to",
        &cache,
        "--signing-key",
        sec.to_str().unwrap(),
        &flake.installable("app"),
    ]));
    let settings = |key: &str| {
        let v = eval(&format!(
            r#"(import {repo}/checks/module-stand-ins.nix {{ inherit lib; }}).eval [ {{
              services.forge.provision.package = {{ type = "derivation"; name = "p"; outPath = "/p"; }};
              services.forge.serve.package = {{ type = "derivation"; name = "f"; outPath = "/f"; }};
              services.forge.cacheClient = {{ enable = true; url = "{cache}"; publicKey = "{key}"; }};
            }} ]"#,
            repo = repo().display()
        ));
        // nix.conf lines, as NixOS writes them.
        let mut conf = String::new();
        for (k, vs) in v["nix"]["settings"].as_object().unwrap() {
            let words: Vec<&str> = vs
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            conf.push_str(&format!("{k} = {}\n", words.join(" ")));
        }
        assert!(
            conf.contains(&format!("extra-substituters = {cache}")),
            "{conf}"
        );
        conf
    };
    let realise = |conf: &str| {
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
        (out, store)
    };
    let (out, store) = realise(&settings(&public));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(store
        .path()
        .join(app.trim_start_matches('/'))
        .join("bin/app")
        .exists());

    let wrong = other.replace("forge-module-other", "forge-module-1");
    let (out, _) = realise(&settings(&wrong));
    assert!(!out.status.success(), "substituted with a wrong key");
    assert!(
        stderr(&out).contains("is not signed by any of the keys in 'trusted-public-keys'"),
        "{}",
        stderr(&out)
    );
}

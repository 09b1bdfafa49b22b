//! `forge deploy <host>`: the system built by real Nix, its closure pushed
//! to a signed file:// cache that Nix substitutes from, the pin committed to
//! a real bare git remote (read back with `git`), and the run in the ledger.

use crate::host_lab::HostLab;
use crate::support::{stderr, substitute};

#[test]
fn a_host_deploy_pushes_the_system_and_commits_its_pin() {
    let lab = HostLab::new("    confirm_timeout: 45s\n    verify:\n      - http: {url: 'http://127.0.0.1:9/{service}'}\n");
    let want = lab.system_path("web1");

    // Dry run: the closure to push and the pin's diff; nothing written.
    let (out, plan) = lab.deploy("web1", &["--dry-run"]);
    assert!(out.status.success(), "{plan}\n{}", stderr(&out));
    assert_eq!(plan["result"], "planned", "{plan}");
    let cache_line = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "cache")
        .unwrap();
    assert!(
        cache_line["detail"]
            .as_str()
            .unwrap()
            .contains("would push 1 of 1 paths"),
        "{plan}"
    );
    let diff = plan["diff"].as_str().unwrap();
    assert!(
        diff.contains("+++ b/hosts/prod/web1.json") || diff.contains("hosts/prod/web1.json"),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("+  \"store_path\": \"{want}\"")),
        "{diff}"
    );
    assert!(lab.pin_at_tip("web1").is_none());
    assert!(!lab.path("cache").join("nix-cache-info").exists());

    // The deploy: pushed, signed, pinned with trailers.
    let pinned = lab.deploy_ok("web1");
    assert_eq!(pinned, want);
    let pin = lab.pin_at_tip("web1").expect("the pin is committed");
    assert_eq!(pin["version"], 1);
    assert_eq!(pin["host"], "web1");
    assert_eq!(pin["environment"], "prod");
    assert_eq!(pin["store_path"], want);
    assert_eq!(pin["pinned_by"], "ci@example.test");
    assert_eq!(pin["confirm_timeout_seconds"], 45);
    assert_eq!(
        pin["checks"][0]["probe"]["http"]["url"],
        "http://127.0.0.1:9/web1"
    );
    let msg = lab.tip_message();
    assert!(msg.contains("Forge-Host: web1"), "{msg}");
    assert!(msg.contains(&format!("Forge-System: {want}")), "{msg}");
    assert!(msg.contains("Forge-Environment: prod"), "{msg}");

    // Nix takes the pushed closure with the cache's key.
    let cache = format!("file://{}", lab.path("cache").display());
    let (out, _store) = substitute(&cache, &lab.public_key, &want, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Again with nothing changed: no commit.
    let before = lab.tip_message();
    let (out, again) = lab.deploy("web1", &[]);
    assert!(out.status.success(), "{again}");
    assert_eq!(again["result"], "no_op", "{again}");
    assert_eq!(lab.tip_message(), before);

    // The ledger holds the run (deploy.yaml has no ledger:, FORGE_LEDGER names one per command).
    let ledger = lab.path("ledger.db");
    let out = lab
        .forge(&["deploy", "web2", "--env", "prod"])
        .env("FORGE_LEDGER", &ledger)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = lab
        .forge(&["release", "list"])
        .env("FORGE_LEDGER", &ledger)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("web2"), "{text}\n{}", stderr(&list));
}

#[test]
fn bad_host_deploys_are_clear_errors_and_write_nothing() {
    let lab = HostLab::new("");
    // The host is not in that environment.
    let out = lab
        .forge(&["deploy", "web1", "--env", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no environment `staging`"),
        "{}",
        stderr(&out)
    );

    // A host whose system does not build: the build step fails, nothing pinned.
    let yaml = std::fs::read_to_string(lab.path("deploy.yaml")).unwrap();
    std::fs::write(
        lab.path("deploy.yaml"),
        yaml.replace("  web2:\n    environment: prod\n", "  web2:\n    environment: prod\n    system: nixosConfigurations.nope.config.system.build.toplevel\n"),
    )
    .unwrap();
    let (out, v) = lab.deploy("web2", &[]);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["result"], "failed", "{v}");
    assert!(lab.pin_at_tip("web2").is_none());

    // A typo in hosts: is located.
    std::fs::write(
        lab.path("deploy.yaml"),
        yaml.replace(
            "    environment: prod\n  web2",
            "    environmnt: prod\n  web2",
        ),
    )
    .unwrap();
    let (out, _) = lab.deploy("web1", &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("deploy.yaml:") && e.contains("environmnt"),
        "{e}"
    );
}

/// Two hosts of one environment deployed at once from two clones: both
/// pins land (a rejected push is fetched, re-applied and pushed again).
#[test]
fn two_hosts_deployed_at_once_both_land() {
    let lab = HostLab::new("");
    let yaml = std::fs::read_to_string(lab.path("deploy.yaml")).unwrap();
    std::fs::write(
        lab.path("deploy2.yaml"),
        yaml.replace("clone_dir: ./clone", "clone_dir: ./clone2"),
    )
    .unwrap();
    let spawn = |host: &str, config: &str| {
        crate::support::forge()
            .args(["--json", "deploy", host, "--env", "prod", "--config"])
            .arg(lab.path(config))
            .env("FORGE_CACHE_DIR", lab.path("layers"))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("web1", "deploy.yaml"), spawn("web2", "deploy2.yaml"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        lab.pin_at_tip("web1").unwrap()["store_path"],
        lab.system_path("web1")
    );
    assert_eq!(
        lab.pin_at_tip("web2").unwrap()["store_path"],
        lab.system_path("web2")
    );
}

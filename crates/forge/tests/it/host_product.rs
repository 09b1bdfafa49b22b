//! NixOS hosts in a product release: each host's system built, pushed and
//! pinned for its agent as a step of the run (as `forge deploy HOST` does),
//! recorded in the ledger, and a rerun pins nothing new.

use crate::host_lab::HostLab;
use crate::support::stderr;

#[test]
fn a_product_release_pins_its_hosts_for_their_agents() {
    let lab = HostLab::new("");
    let yaml = std::fs::read_to_string(lab.path("deploy.yaml")).unwrap();
    std::fs::write(
        lab.path("deploy.yaml"),
        format!("{yaml}ledger:\n  path: ./ledger.db\nproducts:\n  fleet:\n    hosts: [web1, web2]\n    environments: [prod]\n"),
    )
    .unwrap();
    let (out, plan) = {
        let out = lab
            .forge(&["product-release", "fleet", "--dry-run"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, v)
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let keys: Vec<&str> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["web1/prod/host-deploy", "web2/prod/host-deploy"],
        "{plan}"
    );

    let out = lab
        .forge(&["product-release", "fleet"])
        .env_remove("FORGE_LEDGER")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(v["state"], "succeeded", "{v}");
    for host in ["web1", "web2"] {
        let pin = lab
            .pin_at_tip(host)
            .unwrap_or_else(|| panic!("no pin for {host}"));
        assert_eq!(pin["store_path"], lab.system_path(host), "{pin}");
        assert_eq!(pin["pinned_by"], "ci@example.test");
    }
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "web1/prod/host-deploy")
        .unwrap();
    assert_eq!(step["outputs"]["system"], lab.system_path("web1"), "{step}");

    // The same systems again: nothing new to pin.
    let tip = lab.tip_message();
    let out = lab
        .forge(&["product-release", "fleet"])
        .env_remove("FORGE_LEDGER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lab.tip_message(), tip);

    // A product naming a host that does not exist is refused.
    let yaml = std::fs::read_to_string(lab.path("deploy.yaml"))
        .unwrap()
        .replace("hosts: [web1, web2]", "hosts: [web1, web3]");
    std::fs::write(lab.path("deploy.yaml"), yaml).unwrap();
    let out = lab
        .forge(&["product-release", "fleet", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown host `web3`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rollback_of_a_host_pins_its_previous_system_again() {
    let lab = HostLab::new("");
    let first = lab.deploy_ok("web1");
    lab.set_version("2");
    let second = lab.deploy_ok("web1");
    assert_ne!(first, second);

    let tip = lab.tip_message();
    let out = lab
        .forge(&["rollback", "web1", "--env", "prod", "--dry-run"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert!(v["diff"].as_str().unwrap().contains(&first), "{v}");
    assert_eq!(lab.tip_message(), tip, "a dry run commits nothing");

    let out = lab
        .forge(&["rollback", "web1", "--env", "prod"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{}\n{v}", stderr(&out));
    assert_eq!(
        lab.pin_at_tip("web1").unwrap()["store_path"],
        first.as_str()
    );
    let message = lab.tip_message();
    assert!(
        message.starts_with("rollback(prod): host web1 to "),
        "{message}"
    );
    assert!(
        message.contains(&format!("Forge-Rollback-Of: {second}")),
        "{message}"
    );

    let out = lab
        .forge(&[
            "rollback",
            "web1",
            "--env",
            "prod",
            "--to",
            "/nix/store/00000000000000000000000000000000-nope",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    // Under --json the error is the forge.error/v1 document on stdout.
    let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(said.contains("was never pinned"), "{said}");
}

#[test]
fn status_shows_each_host_pin_against_what_its_agent_reported() {
    let lab = HostLab::new("    confirm_timeout: 20s\n");
    let ledger = lab.path("ledger.db");
    let status = || {
        let out = lab
            .forge(&["status", "--ledger", ledger.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let of = |host: &str| {
            v["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["host"] == host)
                .cloned()
                .unwrap_or_else(|| panic!("no {host} in {v}"))
        };
        (of("web1"), of("web2"))
    };
    // Nothing pinned yet: unknown, said so.
    let (web1, _) = status();
    assert_eq!(web1["drift"], "unknown", "{web1}");
    assert!(
        web1["explanation"].as_str().unwrap().contains("no pin"),
        "{web1}"
    );

    let pinned = lab.deploy_fresh("web1");
    let (web1, _) = status();
    assert_eq!(web1["drift"], "git-ahead", "{web1}");
    assert_eq!(web1["pin"]["store_path"], pinned.as_str());

    // The agent switches, confirms and reports to the ledger.
    let key = lab.public_key.clone();
    let agent = lab.agent_config(
        "web1",
        &[&key],
        serde_json::json!([]),
        serde_json::json!({"ledger_path": ledger}),
    );
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    let (web1, web2) = status();
    assert_eq!(web1["drift"], "in-sync", "{web1}");
    assert_eq!(web1["agent"]["system"], pinned.as_str());
    assert_eq!(web2["drift"], "unknown", "{web2}");

    // Text for people too.
    let out = crate::support::forge()
        .args(["status", "--config"])
        .arg(lab.path("deploy.yaml"))
        .args(["--ledger", ledger.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("host web1  prod  in-sync"), "{text}");
}

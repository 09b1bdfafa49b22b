//! The agent's outcomes in the release ledger's audit log: kept in the
//! state file while the ledger cannot be reached, sent once it can.

use serde_json::{json, Value};

use crate::host_lab::HostLab;
use crate::support::{forge, stderr};

fn audit(ledger: &std::path::Path) -> Vec<Value> {
    let out = forge()
        .args(["release", "audit", "--ledger"])
        .arg(ledger)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn outcomes_reach_the_ledger_when_it_can_be_reached() {
    let lab = HostLab::new("    confirm_timeout: 20s\n");
    let key = lab.public_key.clone();
    // A ledger under a plain file: it cannot be opened (yet).
    std::fs::write(lab.path("ledger-dir"), "not a directory").unwrap();
    let ledger = lab.path("ledger-dir/ledger.db");
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({"ledger_path": ledger}));
    let v1 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    let state = lab.state("web1");
    assert_eq!(state["unreported"][0]["outcome"], "deployed", "{state}");
    assert!(err.contains("ledger unreachable"), "{err}");

    // The ledger is there now: the next pass sends what waited.
    std::fs::remove_file(lab.path("ledger-dir")).unwrap();
    std::fs::create_dir(lab.path("ledger-dir")).unwrap();
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(
        (code, pass["decision"].as_str()),
        (0, Some("idle")),
        "{pass}\n{err}"
    );
    assert!(
        lab.state("web1").get("unreported").is_none(),
        "{}",
        lab.state("web1")
    );
    let events = audit(&ledger);
    let deployed: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "host.deployed")
        .collect();
    assert_eq!(deployed.len(), 1, "{events:#?}");
    assert_eq!(deployed[0]["subject"], "host/prod/web1");
    assert_eq!(deployed[0]["actor"], "forge-agent@web1");
    assert_eq!(deployed[0]["after"]["system"], v1.as_str());
    let out = forge()
        .args(["release", "audit", "--verify", "--ledger"])
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

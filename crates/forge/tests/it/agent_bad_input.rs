//! The agent given what it must not take: a pin written for another host, a
//! cache that does not answer. Clear reasons, the system untouched.

use serde_json::json;

use crate::host_lab::HostLab;
use crate::support::git::git;

#[test]
fn a_pin_naming_another_host_is_refused() {
    let lab = HostLab::new("");
    let v1 = lab.deploy_fresh("web2");
    // web2's pin copied to web1's place.
    let seed = lab.path("seed");
    git(
        &seed,
        &[
            "pull",
            "-q",
            lab.path("gitops.git").to_str().unwrap(),
            "main",
        ],
    );
    std::fs::copy(
        seed.join("hosts/prod/web2.json"),
        seed.join("hosts/prod/web1.json"),
    )
    .unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "copied pin"]);
    git(
        &seed,
        &[
            "push",
            "-q",
            lab.path("gitops.git").to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["decision"], "refuse", "{pass}");
    assert!(
        pass["detail"]
            .as_str()
            .unwrap()
            .contains("for host `web2`, not `web1`"),
        "{pass}"
    );
    assert!(lab.switch_log().is_empty());
    assert!(!std::path::Path::new(&v1).exists(), "nothing substituted");
}

#[test]
fn an_unreachable_cache_leaves_the_system_alone_and_is_tried_again() {
    let lab = HostLab::new("");
    let v1 = lab.deploy_fresh("web1");
    let port = crate::support::free_port();
    let key = lab.public_key.clone();
    let agent = lab.agent_config(
        "web1",
        &[&key],
        json!([]),
        json!({
            "cache_url": format!("http://127.0.0.1:{port}"),
            "connect_timeout_seconds": 2,
            "attempts": 1
        }),
    );
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["outcome"]["outcome"], "refused", "{pass}");
    let reasons = pass["outcome"]["reasons"].to_string();
    assert!(
        reasons.contains("could not be substituted from http://127.0.0.1"),
        "{reasons}"
    );
    assert!(lab.switch_log().is_empty());
    assert!(lab.profile_target("web1").is_none());
    // Not marked failed: the next pass tries again, and with the cache back it switches.
    assert!(
        lab.state("web1").get("failed").is_none(),
        "{}",
        lab.state("web1")
    );
    let good = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let (code, pass, err) = lab.agent_once(&good);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v1.as_str()));
}

/// The pin's checks (deploy.yaml's hosts.<host>.verify): HTTP ones run,
/// command ones only when the agent allows them.
#[test]
fn the_pins_http_checks_gate_the_switch_and_its_commands_need_consent() {
    let port = crate::support::free_port();
    let lab = HostLab::new(&format!(
        "    confirm_timeout: 3s\n    verify:\n      - command: ['false']\n      - {{http: {{url: 'http://127.0.0.1:{port}/{{service}}'}}, timeout: 1s}}\n"
    ));
    let key = lab.public_key.clone();
    let v1 = lab.deploy_fresh("web1");
    // Commands from the pin are skipped; the HTTP check fails: rolled back.
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({"reach_back": false}));
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    let reasons = pass["outcome"]["reasons"].to_string();
    assert!(
        reasons.contains(&format!("GET http://127.0.0.1:{port}/web1")),
        "{reasons}"
    );
    assert!(
        !reasons.contains("command-1"),
        "the pin's command ran: {reasons}"
    );
    assert_eq!(
        lab.switch_log(),
        ["web1 1 test"],
        "no previous generation to switch back to"
    );
    let _ = v1;
}

/// An agent killed in the middle of a fetch leaves git's lock files in its
/// clone; the next start is not locked out by them.
#[test]
fn lock_files_left_in_the_clone_by_a_killed_agent_do_not_lock_it_out() {
    let lab = HostLab::new("");
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(
        (code, pass["decision"].as_str()),
        (0, Some("idle")),
        "{pass}\n{err}"
    );
    let git_dir = lab.path("agent-web1/gitops/.git");
    std::fs::write(git_dir.join("index.lock"), "").unwrap();
    std::fs::write(git_dir.join("refs/heads/main.lock"), "").unwrap();
    let v1 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v1.as_str()));
    assert!(!git_dir.join("index.lock").exists());
}

//! `forge agent` against real Nix, a real git remote and a real signed
//! `file://` cache: the pinned system is deleted from the local store first,
//! so every switch substitutes it for real (with signatures required); the
//! profile is a real Nix profile under the temp dir; the system's own
//! `switch-to-configuration` records what it was asked to do.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::host_lab::HostLab;
use crate::support::nix_keypair;

/// A command check that passes while `file` exists.
fn file_check(file: &std::path::Path) -> Value {
    json!([{
        "name": "ready-file",
        "probe": {"command": {"argv": ["test", "-e", file]}},
        "interval": "1s", "count": 1, "failure_limit": 0, "timeout": "5s"
    }])
}

#[test]
fn a_healthy_switch_is_substituted_tested_confirmed_then_booted() {
    let lab = HostLab::new("    confirm_timeout: 20s\n");
    let v1 = lab.deploy_fresh("web1");
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));

    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(pass["schema"], "forge.agent-pass/v1");
    assert_eq!(pass["decision"], "switch", "{pass}");
    assert_eq!(pass["outcome"]["outcome"], "deployed", "{pass}");
    assert!(
        std::path::Path::new(&v1)
            .join("bin/switch-to-configuration")
            .exists(),
        "substituted"
    );
    assert_eq!(lab.switch_log(), ["web1 1 test", "web1 1 boot"]);
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v1.as_str()));
    let state = lab.state("web1");
    assert_eq!(state["confirmed"], v1.as_str());
    assert!(state.get("pending").is_none(), "{state}");

    // Nothing new: idle, nothing switched.
    let (code, pass, _) = lab.agent_once(&agent);
    assert_eq!(
        (code, pass["decision"].as_str()),
        (0, Some("idle")),
        "{pass}"
    );
    assert_eq!(lab.switch_log().len(), 2);

    // Version 2: generation 2 of the profile.
    lab.set_version("2");
    let v2 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(&lab.switch_log()[2..], ["web1 2 test", "web1 2 boot"]);
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v2.as_str()));
    assert!(lab.path("profiles-web1/system-2-link").exists());
    let metrics = std::fs::read_to_string(lab.path("agent-web1.prom")).unwrap();
    assert!(
        metrics.contains("forge_agent_pending{host=\"web1\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"deployed\""), "{metrics}");

    // The other host's agent ignores web1's pin; its own is not there yet.
    let other = lab.agent_config("web2", &[&key], json!([]), json!({}));
    let (code, pass, _) = lab.agent_once(&other);
    assert_eq!(
        (code, pass["decision"].as_str()),
        (0, Some("idle")),
        "{pass}"
    );
}

#[test]
fn a_failing_health_check_rolls_back_and_is_not_retried() {
    let lab = HostLab::new("    confirm_timeout: 4s\n");
    let v1 = lab.deploy_fresh("web1");
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");

    // v2 leaves a unit failed beyond the allow-list.
    std::fs::write(
        lab.path("failed-units"),
        "● nginx.service loaded failed failed nginx\nsystemd-networkd-wait-online.service loaded failed failed Wait\n",
    )
    .unwrap();
    lab.set_version("2");
    let v2 = lab.deploy_fresh("web1");
    let started = Instant::now();
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "waited for the confirm timeout"
    );
    assert_eq!(pass["outcome"]["outcome"], "rolled_back", "{pass}");
    let reasons = pass["outcome"]["reasons"].to_string();
    assert!(
        reasons.contains("failed systemd units: nginx.service"),
        "{reasons}"
    );
    assert!(!reasons.contains("wait-online"), "{reasons}");
    assert_eq!(
        lab.switch_log(),
        ["web1 1 test", "web1 1 boot", "web1 2 test", "web1 1 switch"]
    );
    // Back on generation 1, which is v1.
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v1.as_str()));
    let state = lab.state("web1");
    assert_eq!(state["failed"][0]["store_path"], v2.as_str(), "{state}");

    // The same pin again: not retried.
    std::fs::remove_file(lab.path("failed-units")).unwrap();
    let (code, pass, _) = lab.agent_once(&agent);
    assert_eq!(code, 0);
    assert_eq!(pass["decision"], "idle");
    assert!(
        pass["detail"]
            .as_str()
            .unwrap()
            .contains("failed on this host before"),
        "{pass}"
    );
    assert_eq!(lab.switch_log().len(), 4);

    // A new pin is taken.
    lab.set_version("3");
    let v3 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v3.as_str()));
    assert_eq!(&lab.switch_log()[4..], ["web1 3 test", "web1 3 boot"]);
}

#[test]
fn a_closure_not_signed_by_a_trusted_key_is_refused_without_switching() {
    let lab = HostLab::new("");
    let v1 = lab.deploy_fresh("web1");
    let (_, other) = nix_keypair(lab.tmp.path(), "someone-else-1");
    let agent = lab.agent_config("web1", &[&other], json!([]), json!({}));
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["outcome"]["outcome"], "refused", "{pass}");
    let reasons = pass["outcome"]["reasons"].to_string();
    assert!(reasons.contains("not signed by a trusted key"), "{reasons}");
    assert!(lab.switch_log().is_empty());
    assert!(lab.profile_target("web1").is_none());
    assert!(!std::path::Path::new(&v1).exists());
    // Refused for good: not tried again.
    let (code, pass, _) = lab.agent_once(&agent);
    assert_eq!(
        (code, pass["decision"].as_str()),
        (0, Some("idle")),
        "{pass}"
    );

    // Already in the store but built locally (no trusted signature): refused too.
    lab.set_version("2");
    let v2 = lab.deploy_ok("web1");
    assert!(std::path::Path::new(&v2).exists());
    let (code, pass, _) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}");
    assert_eq!(pass["outcome"]["outcome"], "refused", "{pass}");
    assert!(lab.switch_log().is_empty());
}

#[test]
fn a_malformed_pin_is_refused_and_the_system_left_alone() {
    let lab = HostLab::new("");
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let seed = lab.path("seed");
    std::fs::create_dir_all(seed.join("hosts/prod")).unwrap();
    std::fs::write(
        seed.join("hosts/prod/web1.json"),
        "{\n  \"version\": 1,\n  \"host\": web1\n}\n",
    )
    .unwrap();
    crate::support::git::git(&seed, &["add", "-A"]);
    crate::support::git::git(&seed, &["commit", "-q", "-m", "bad pin"]);
    crate::support::git::git(
        &seed,
        &[
            "push",
            "-q",
            lab.path("gitops.git").to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["decision"], "refuse");
    assert!(
        pass["detail"]
            .as_str()
            .unwrap()
            .starts_with("hosts/prod/web1.json:3:"),
        "{pass}"
    );
    assert!(lab.switch_log().is_empty());
}

#[test]
fn an_agent_killed_during_confirmation_finishes_it_or_rolls_back_on_restart() {
    let lab = HostLab::new("    confirm_timeout: 60s\n");
    let ready = lab.path("ready");
    std::fs::write(&ready, "").unwrap();
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], file_check(&ready), json!({}));
    let v1 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");

    // v2's check does not pass yet; the agent is killed while it waits.
    std::fs::remove_file(&ready).unwrap();
    lab.set_version("2");
    let v2 = lab.deploy_fresh("web1");
    let kill_while_confirming = || {
        let mut child = lab
            .agent(&agent, &["--once"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state =
                std::fs::read_to_string(lab.path("agent-web1/state.json")).unwrap_or_default();
            if state.contains("\"activated\"") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never reached confirmation: {state}"
            );
            assert!(child.try_wait().unwrap().is_none(), "the agent ended early");
            std::thread::sleep(Duration::from_millis(100));
        }
        // SIGKILL: no chance to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
    };
    kill_while_confirming();
    assert_eq!(&lab.switch_log()[2..], ["web1 2 test"]);
    assert_eq!(lab.state("web1")["pending"]["phase"], "activated");

    // Restarted with the check now passing: the confirmation is finished.
    std::fs::write(&ready, "").unwrap();
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");
    assert_eq!(pass["decision"], "resume", "{pass}");
    assert_eq!(&lab.switch_log()[2..], ["web1 2 test", "web1 2 boot"]);
    assert_eq!(lab.state("web1")["confirmed"], v2.as_str());

    // v3, killed the same way; then the host "reboots" into its boot
    // default (v2): the restarted agent rolls the profile back.
    std::fs::remove_file(&ready).unwrap();
    lab.set_version("3");
    let v3 = lab.deploy_fresh("web1");
    kill_while_confirming();
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v3.as_str()));
    std::os::unix::fs::symlink(&v2, lab.path("current-system.new")).unwrap();
    std::fs::rename(lab.path("current-system.new"), lab.path("current-system")).unwrap();
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["decision"], "roll_back", "{pass}");
    assert!(
        pass["detail"]
            .as_str()
            .unwrap()
            .contains("restarted before"),
        "{pass}"
    );
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v2.as_str()));
    assert_eq!(lab.switch_log().last().unwrap(), "web1 2 switch");
    assert_eq!(lab.state("web1")["failed"][0]["store_path"], v3.as_str());
    let _ = v1;
}

#[test]
fn an_agent_killed_during_switch_to_configuration_test_rolls_back_on_restart() {
    let lab = HostLab::new("    confirm_timeout: 60s\n");
    let key = lab.public_key.clone();
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({}));
    let v1 = lab.deploy_fresh("web1");
    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 0, "{pass}\n{err}");

    std::fs::write(lab.path("hang"), "").unwrap();
    lab.set_version("2");
    let v2 = lab.deploy_fresh("web1");
    let mut child = lab
        .agent(&agent, &["--once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lab.switch_log().iter().any(|l| l == "web1 2 test") {
        assert!(
            Instant::now() < deadline,
            "never ran test: {:?}",
            lab.switch_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(lab.path("hang")).unwrap();
    assert_eq!(lab.state("web1")["pending"]["phase"], "profile_set");
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v2.as_str()));

    let (code, pass, err) = lab.agent_once(&agent);
    assert_eq!(code, 1, "{pass}\n{err}");
    assert_eq!(pass["decision"], "roll_back", "{pass}");
    assert!(
        pass["detail"].as_str().unwrap().contains("interrupted"),
        "{pass}"
    );
    assert_eq!(lab.profile_target("web1").as_deref(), Some(v1.as_str()));
    assert_eq!(lab.switch_log().last().unwrap(), "web1 1 switch");
    assert_eq!(lab.state("web1")["failed"][0]["store_path"], v2.as_str());
}

//! `forge agent` as systemd runs it: a long-running loop that SIGHUP wakes
//! before its interval ends and SIGTERM stops with exit 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::host_lab::HostLab;

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_wakes_the_agent_early_and_sigterm_stops_it() {
    let lab = HostLab::new("    confirm_timeout: 20s\n");
    let key = lab.public_key.clone();
    // An interval far longer than the test: only SIGHUP can start the second pass.
    let agent = lab.agent_config("web1", &[&key], json!([]), json!({"interval_seconds": 600}));
    let mut child = lab
        .agent(&agent, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = lab.path("agent-web1.prom");
    wait_for("the first pass", Duration::from_secs(30), || {
        metrics.exists()
    });
    assert!(
        !lab.path("agent-web1/state.json").exists(),
        "no pin yet: nothing done"
    );

    let v1 = lab.deploy_fresh("web1");
    signal(child.id(), "-HUP");
    wait_for("the switch after SIGHUP", Duration::from_secs(60), || {
        std::fs::read_to_string(lab.path("agent-web1/state.json"))
            .is_ok_and(|s| s.contains(&format!("\"confirmed\": \"{v1}\"")))
    });
    assert_eq!(lab.switch_log(), ["web1 1 test", "web1 1 boot"]);

    signal(child.id(), "-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "SIGTERM did not stop the agent"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn a_connection_to_the_wake_socket_starts_a_pass_at_once() {
    let lab = HostLab::new("    confirm_timeout: 20s\n");
    let key = lab.public_key.clone();
    let socket = lab.path("agent-web1.sock");
    let agent = lab.agent_config(
        "web1",
        &[&key],
        json!([]),
        json!({"interval_seconds": 600, "wake_socket": socket}),
    );
    let mut child = lab
        .agent(&agent, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = lab.path("agent-web1.prom");
    wait_for("the first pass", Duration::from_secs(30), || {
        metrics.exists() && socket.exists()
    });
    let v1 = lab.deploy_fresh("web1");
    // A deploy hook's knock: connect and go.
    drop(std::os::unix::net::UnixStream::connect(&socket).unwrap());
    wait_for(
        "the switch after the knock",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(lab.path("agent-web1/state.json"))
                .is_ok_and(|s| s.contains(&format!("\"confirmed\": \"{v1}\"")))
        },
    );
    signal(child.id(), "-TERM");
    let _ = child.wait();
}

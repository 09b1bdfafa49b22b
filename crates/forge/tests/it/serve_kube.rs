//! `/api/v1/status` on the Kubernetes + Flux test environment: the
//! snapshot `forge serve` refreshes in the background follows the cluster
//! (in sync after a release, cluster-drift after a hand `kubectl set
//! image`) while requests keep answering from the snapshot at once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve_api::Server;
use crate::status_kube::Site;
use crate::support::forge;

const HAND: &str = "sha256:8888888888888888888888888888888888888888888888888888888888888888";

fn drift_of(server: &Server) -> (String, Value) {
    let v = server.json("/api/v1/status", 200);
    let t = v["targets"][0].clone();
    (t["drift"].as_str().unwrap_or_default().to_owned(), t)
}

#[test]
fn the_status_snapshot_follows_the_cluster() {
    let Some(site) = Site::new("serve") else {
        return;
    };
    let config = site.config("deploy.yaml", true);
    site.release(&config);
    let n = site.ns.name.clone();
    let status = site.env.kubectl_out(&[
        "rollout",
        "status",
        "deployment/app",
        "-n",
        &n,
        "--timeout=60s",
    ]);
    assert!(status.status.success());

    let mut command = forge();
    command
        .env("KUBECONFIG", &site.env.kubeconfig)
        .args(["serve", "--config"])
        .arg(&config);
    let server = Server::spawn(command, None);
    let (drift, t) = drift_of(&server);
    assert_eq!(drift, "in-sync", "{t}");
    // The same answer as the command line's.
    let (_, cli) = site.forge(&config, &["status"]);
    assert_eq!(cli["targets"][0]["drift"], "in-sync");
    assert_eq!(t["explanation"], cli["targets"][0]["explanation"]);

    site.env.kubectl_ok(&[
        "set",
        "image",
        "deployment/app",
        &format!("app=registry.forge.test/app:hand@{HAND}"),
        "-n",
        &n,
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let asked = Instant::now();
        let (drift, t) = drift_of(&server);
        // Answered from the snapshot, never waiting on the cluster.
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
        if drift == "cluster-drift" {
            assert!(
                t["explanation"]
                    .as_str()
                    .unwrap()
                    .contains("sha256:888888888888"),
                "{t}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "still {drift}: {t}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = server.get("/metrics").unwrap().1;
    assert!(
        metrics.contains(
            "forge_drift{service=\"app\",environment=\"e2e\",state=\"cluster-drift\"} 1\n"
        ),
        "{metrics}"
    );

    // A cluster that does not answer: unknown, said plainly; the server
    // itself answers at once.
    let port = forge_testkit::free_port();
    let dead = site.dir.path().join("dead-kubeconfig");
    std::fs::write(
        &dead,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:{port}\ncontexts:\n- name: dead\n  context: {{cluster: dead, user: u}}\ncurrent-context: dead\nusers:\n- name: u\n  user: {{token: t}}\n"),
    )
    .unwrap();
    let mut command = forge();
    command
        .env("KUBECONFIG", &dead)
        .args(["serve", "--cluster-timeout", "2s", "--config"])
        .arg(&config);
    let blind = Server::spawn(command, None);
    let (drift, t) = drift_of(&blind);
    assert_eq!(drift, "unknown", "{t}");
    assert_eq!(t["cluster"]["state"], "unreachable", "{t}");
    assert!(
        t["explanation"]
            .as_str()
            .unwrap()
            .starts_with("cluster unreachable ("),
        "{t}"
    );
}

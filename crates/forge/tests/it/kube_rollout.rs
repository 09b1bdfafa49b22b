//! forge rollout against the Kubernetes + Flux test environment: rollouts go
//! Current, doomed ones fail in seconds with the reason, the crashed run's
//! logs and events, a stale status is never Current, and a missing workload
//! is a clear error. Each test has its own namespace and deploy.yaml.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::testenv::{self, Namespace, TestEnv};
use crate::support::{forge, stderr, stdout};

/// A namespace and a deploy.yaml whose environment `test` deploys into it.
struct Setup {
    env: &'static TestEnv,
    ns: Namespace<'static>,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(prefix: &str) -> Option<Self> {
        let env = testenv::get()?;
        let ns = env.namespace(prefix);
        Some(Self {
            env,
            ns,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn ns(&self) -> &str {
        &self.ns.name
    }

    /// Runs `forge rollout web --env test` for workload `kind`/`name` with
    /// `extra` flags; returns its output and how long it took.
    fn rollout(&self, kind: &str, name: &str, extra: &[&str]) -> (Output, Duration) {
        let config = self.dir.path().join("deploy.yaml");
        std::fs::write(
            &config,
            format!(
                "registry: registry.forge.test\n\
                 environments:\n  test:\n    kube:\n      namespace: {}\n\
                 services:\n  web:\n    workload:\n      kind: {kind}\n      name: {name}\n",
                self.ns()
            ),
        )
        .unwrap();
        let started = Instant::now();
        let out = forge()
            .env("KUBECONFIG", &self.env.kubeconfig)
            .args(["rollout", "web", "--env", "test", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .expect("spawn forge");
        (out, started.elapsed())
    }
}

fn deployment(ns: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: app
        image: {image}
"#
    )
}

fn status(out: &Output) -> Option<i32> {
    out.status.code()
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

#[test]
fn deployment_current_then_crashloop_fails_fast_with_logs_and_events() {
    let Some(s) = Setup::new("rollout-crash") else {
        return;
    };
    s.env
        .apply(&deployment(s.ns(), "registry.forge.test/web:v1", 3));
    let (out, took) = s.rollout("Deployment", "web", &["--timeout", "90s"]);
    assert_eq!(status(&out), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("Deployment {}/web rolled out", s.ns())),
        "{text}"
    );
    eprintln!("good rollout: Current in {:.1} s", took.as_secs_f64());

    s.env.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        s.ns(),
        "app=scenario.forge.test/crashloop:v2",
    ]);
    // The progress deadline is the default 600 s; the timeout is well above
    // what the detection may take.
    let (out, took) = s.rollout("Deployment", "web", &["--timeout", "5m"]);
    eprintln!(
        "crash loop detected in {:.1} s (progress deadline 600 s)",
        took.as_secs_f64()
    );
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("Deployment {}/web failed to roll out", s.ns())),
        "{text}"
    );
    assert!(
        text.contains("container app: CrashLoopBackOff (restarted 3 times)"),
        "{text}"
    );
    assert!(
        text.contains("last log lines of app, previous run:\n      | forge testenv: log line 1\n      | forge testenv: log line 2"),
        "{text}"
    );
    assert!(text.contains("recent events:"), "{text}");
    assert!(
        text.contains("Normal ScalingReplicaSet Deployment/web"),
        "{text}"
    );
    assert!(text.contains("SuccessfulCreate ReplicaSet/web-"), "{text}");

    // The same verdict as JSON, with the crashing pod's logs.
    let (out, _) = s.rollout(
        "Deployment",
        "web",
        &["--timeout", "5m", "--json", "--log-lines", "1"],
    );
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["status"], "Failed", "{report}");
    assert_eq!(report["workload"], format!("Deployment {}/web", s.ns()));
    let pod = &report["pods"][0];
    assert!(pod["pod"].as_str().unwrap().starts_with("web-"), "{report}");
    assert_eq!(pod["failures"][0]["reason"], "CrashLoopBackOff", "{report}");
    assert_eq!(pod["logs"][0]["container"], "app");
    assert_eq!(
        pod["logs"][0]["lines"].as_str().unwrap().trim_end(),
        "forge testenv: log line 2",
        "--log-lines 1 keeps the last line"
    );
    assert!(report["elapsed_seconds"].as_f64().is_some(), "{report}");
}

#[test]
fn image_pull_failure_fails_with_the_pull_reason() {
    let Some(s) = Setup::new("rollout-pull") else {
        return;
    };
    s.env
        .apply(&deployment(s.ns(), "scenario.forge.test/imagepull:v1", 2));
    let (out, took) = s.rollout("Deployment", "web", &["--timeout", "5m"]);
    eprintln!("image pull failure detected in {:.1} s", took.as_secs_f64());
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let text = stdout(&out);
    assert!(
        text.contains(": ErrImagePull") || text.contains(": ImagePullBackOff"),
        "{text}"
    );
    // The container never ran: no logs to show.
    assert!(!text.contains("last log lines"), "{text}");
}

#[test]
fn oomkilled_container_fails_naming_the_oom_kill() {
    let Some(s) = Setup::new("rollout-oom") else {
        return;
    };
    s.env
        .apply(&deployment(s.ns(), "scenario.forge.test/oomkilled:v1", 1));
    let (out, took) = s.rollout("Deployment", "web", &["--timeout", "5m"]);
    eprintln!("OOM kill detected in {:.1} s", took.as_secs_f64());
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let text = stdout(&out);
    assert!(
        text.contains("last termination: OOMKilled, exit code 137"),
        "{text}"
    );
    assert!(
        text.contains("last log lines of app, previous run:"),
        "{text}"
    );
}

#[test]
fn statefulset_rollout_goes_current() {
    let Some(s) = Setup::new("rollout-sts") else {
        return;
    };
    let sts = |image: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {ns}}}
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      containers:
      - name: db
        image: {image}
"#,
            ns = s.ns()
        )
    };
    s.env.apply(&sts("registry.forge.test/db:v1"));
    let (out, took) = s.rollout("StatefulSet", "db", &["--timeout", "90s"]);
    assert_eq!(status(&out), Some(0), "{}", both(&out));
    eprintln!("statefulset: Current in {:.1} s", took.as_secs_f64());

    // An update: Current only once every pod runs the new revision.
    s.env.apply(&sts("registry.forge.test/db:v2"));
    let (out, _) = s.rollout(
        "StatefulSet",
        "db",
        &["--timeout", "90s", "--image", "db:v2"],
    );
    assert_eq!(status(&out), Some(0), "{}", both(&out));
    let pods = s.env.get_json(&["pods", "-n", s.ns(), "-l", "app=db"]);
    for p in pods["items"].as_array().unwrap() {
        assert_eq!(
            p["spec"]["containers"][0]["image"],
            "registry.forge.test/db:v2"
        );
    }
    let sts = s.env.get_json(&["statefulset", "db", "-n", s.ns()]);
    assert_eq!(
        sts["status"]["currentRevision"], sts["status"]["updateRevision"],
        "{}",
        sts["status"]
    );
}

#[test]
fn stale_status_is_not_current_while_the_image_differs() {
    let Some(s) = Setup::new("rollout-stale") else {
        return;
    };
    s.env
        .apply(&deployment(s.ns(), "registry.forge.test/web:v1", 1));
    let (out, _) = s.rollout("Deployment", "web", &["--timeout", "90s"]);
    assert_eq!(status(&out), Some(0), "{}", both(&out));

    // The Deployment is Current, but not with the image the caller pinned
    // (Flux has not applied it yet): keep waiting, and say for what.
    let digest = format!("sha256:{}", "0".repeat(64));
    let (out, took) = s.rollout(
        "Deployment",
        "web",
        &["--timeout", "4s", "--image", &digest],
    );
    assert_eq!(status(&out), Some(3), "{}", both(&out));
    assert!(took >= Duration::from_secs(4), "took {took:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Deployment {}/web did not finish rolling out within the timeout (4.",
            s.ns()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "s); still waiting: waiting for the pod template to use an image containing `{digest}` \
             (it uses registry.forge.test/web:v1)\n"
        )),
        "{text}"
    );
}

#[test]
fn pending_pods_fail_after_the_pending_limit() {
    let Some(s) = Setup::new("rollout-pending") else {
        return;
    };
    let yaml = deployment(s.ns(), "registry.forge.test/web:v1", 1).replace(
        "      containers:",
        "      nodeSelector: {forge.test/no-such-node: \"true\"}\n      containers:",
    );
    s.env.apply(&yaml);
    let (out, took) = s.rollout(
        "Deployment",
        "web",
        &["--timeout", "60s", "--pending-limit", "5s"],
    );
    eprintln!(
        "unschedulable pod reported after {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let text = stdout(&out);
    assert!(text.contains("PendingTooLong"), "{text}");
    assert!(text.contains("Unschedulable"), "{text}");
    assert!(text.contains("(limit 5s)"), "{text}");
}

#[test]
fn missing_workload_is_a_clear_error() {
    let Some(s) = Setup::new("rollout-missing") else {
        return;
    };
    let (out, _) = s.rollout("Deployment", "absent", &["--timeout", "30s"]);
    assert_eq!(status(&out), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Deployment {}/absent not found", s.ns())),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "{}", both(&out));
}

#[test]
fn daemonset_goes_current_then_fails_on_its_newest_revision() {
    let Some(s) = Setup::new("rollout-ds") else {
        return;
    };
    let ds = |image: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector:
    matchLabels: {{app: agent}}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      containers:
      - name: agent
        image: {image}
"#,
            ns = s.ns()
        )
    };
    s.env.apply(&ds("registry.forge.test/agent:v1"));
    let (out, _) = s.rollout("DaemonSet", "agent", &["--timeout", "90s"]);
    assert_eq!(status(&out), Some(0), "{}", both(&out));
    assert!(stdout(&out).contains("rolled out"), "{}", both(&out));

    s.env.apply(&ds("scenario.forge.test/crashloop:v2"));
    let (out, took) = s.rollout("DaemonSet", "agent", &["--timeout", "5m"]);
    eprintln!(
        "daemon set crash loop detected in {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(status(&out), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let text = stdout(&out);
    assert!(text.contains("new pod agent-"), "{text}");
    assert!(text.contains("container agent: CrashLoopBackOff"), "{text}");
    assert!(text.contains("| forge testenv: log line 1"), "{text}");
}

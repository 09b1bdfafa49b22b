//! The Kubernetes test environment itself (`scripts/testenv`): Deployments
//! roll out by kubectl's rules on kwok's fake nodes, failure scenarios show the
//! kubelet's reasons, logs come through the API, and Flux applies a commit
//! pushed to the local git server. Everything through the built `kubectl`.

use std::time::Duration;

use serde_json::Value;

use crate::support::git::git;
use crate::support::testenv::{self, wait_for, TestEnv};

fn deployment(ns: &str, name: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"#
    )
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// kubectl's rollout rules for a Deployment (rollout_status.go): `None` while
/// in progress, `Some(Ok)` when complete, `Some(Err)` when the progress
/// deadline was exceeded.
fn rollout_done(d: &Value) -> Option<Result<(), String>> {
    if int(d, "/metadata/generation") > int(d, "/status/observedGeneration") {
        return None;
    }
    let conditions = d["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conditions
        .iter()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    {
        return Some(Err("exceeded its progress deadline".into()));
    }
    let spec = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = int(d, "/status/updatedReplicas");
    if updated < spec
        || int(d, "/status/replicas") > updated
        || int(d, "/status/availableReplicas") < updated
    {
        return None;
    }
    Some(Ok(()))
}

/// The Deployment's current ReplicaSet (same revision annotation) and its pods.
fn new_replicaset_pods(env: &TestEnv, ns: &str, name: &str) -> Option<(String, Vec<Value>)> {
    let d = env.get_json(&["deployment", name, "-n", ns]);
    let rev = d["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()?
        .to_owned();
    let rss = env.get_json(&["replicasets", "-n", ns, "-l", &format!("app={name}")]);
    let rs = rss["items"].as_array()?.iter().find(|rs| {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str() == Some(&rev)
    })?;
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()?
        .to_owned();
    let pods = env.get_json(&["pods", "-n", ns, "-l", &format!("pod-template-hash={hash}")]);
    Some((
        rs["metadata"]["name"].as_str()?.to_owned(),
        pods["items"].as_array()?.clone(),
    ))
}

fn waiting_reasons(pod: &Value) -> Vec<String> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_owned))
        .collect()
}

fn restart_count(pod: &Value) -> i64 {
    int(pod, "/status/containerStatuses/0/restartCount")
}

#[test]
fn rollout_complete_then_crashloop_on_new_rs() {
    let Some(env) = testenv::get() else { return };
    let ns = env.namespace("rollout");
    let n = ns.name.as_str();
    env.apply(&deployment(n, "web", "registry.forge.test/web:v1", 3));

    // Complete by kubectl's rules, and kubectl itself agrees.
    let d = wait_for(
        Duration::from_secs(90),
        "deployment web to complete",
        || {
            let d = env.get_json(&["deployment", "web", "-n", n]);
            match rollout_done(&d) {
                Some(Ok(())) => Some(d),
                Some(Err(e)) => panic!("rollout failed: {e}"),
                None => None,
            }
        },
    );
    assert_eq!(int(&d, "/status/updatedReplicas"), 3);
    assert_eq!(int(&d, "/status/availableReplicas"), 3);
    assert_eq!(int(&d, "/status/readyReplicas"), 3);
    let status = env.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        n,
        "--timeout=30s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let (_, pods) = new_replicaset_pods(env, n, "web").unwrap();
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Running", "{p}");
        assert!(p["spec"]["nodeName"]
            .as_str()
            .unwrap()
            .starts_with("kwok-node-"));
    }

    // A container's logs through the API server (served by kwok).
    let pod = pods[0]["metadata"]["name"].as_str().unwrap();
    let logs = env.kubectl_ok(&["logs", "-n", n, pod, "-c", "app"]);
    assert!(logs.contains("forge testenv: log line 1"), "logs: {logs:?}");

    // Change the image to a crashing one: the new ReplicaSet's pods crash-loop
    // with a rising restartCount, and the rollout does not complete.
    env.kubectl_ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        n,
        "app=scenario.forge.test/crashloop:v2",
    ]);
    let (rs, first) = wait_for(
        Duration::from_secs(60),
        "CrashLoopBackOff on the new ReplicaSet",
        || {
            let (rs, pods) = new_replicaset_pods(env, n, "web")?;
            let p = pods
                .into_iter()
                .find(|p| waiting_reasons(p).iter().any(|r| r == "CrashLoopBackOff"))?;
            Some((rs, p))
        },
    );
    assert_eq!(
        first["status"]["containerStatuses"][0]["image"],
        "scenario.forge.test/crashloop:v2"
    );
    assert_eq!(first["status"]["containerStatuses"][0]["ready"], false);
    assert_eq!(
        first["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"],
        "Error"
    );
    let name = first["metadata"]["name"].as_str().unwrap().to_owned();
    let before = restart_count(&first);
    wait_for(Duration::from_secs(30), "restartCount to rise", || {
        let p = env.get_json(&["pod", &name, "-n", n]);
        (restart_count(&p) > before).then_some(())
    });
    let d = env.get_json(&["deployment", "web", "-n", n]);
    assert!(
        rollout_done(&d).is_none(),
        "rollout must not complete: {}",
        d["status"]
    );
    let out = env.kubectl_out(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        n,
        "--timeout=3s",
    ]);
    assert!(
        !out.status.success(),
        "kubectl rollout status must not succeed"
    );
    // The old ReplicaSet keeps serving.
    assert!(int(&d, "/status/availableReplicas") >= 2, "{}", d["status"]);
    assert!(rs.starts_with("web-"));
}

/// Each failure scenario (by label, or by image name) shows the kubelet's
/// reason on the pod.
#[test]
fn failure_scenarios_show_kubelet_reasons() {
    let Some(env) = testenv::get() else { return };
    let ns = env.namespace("scenarios");
    let n = ns.name.as_str();
    let pod = |name: &str, label: Option<&str>, image: &str| {
        let labels = label
            .map(|l| format!("  labels: {{forge.test/scenario: {l}}}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {n}\n{labels}spec:\n  containers:\n  - name: main\n    image: {image}\n---\n"
        )
    };
    let mut yaml = String::new();
    yaml += &pod("ok", None, "registry.forge.test/ok:1");
    yaml += &pod("pull", None, "scenario.forge.test/imagepull:1");
    yaml += &pod("config", Some("configerror"), "registry.forge.test/app:1");
    yaml += &pod("oom", Some("oomkilled"), "registry.forge.test/app:1");
    yaml += &pod("notready", None, "scenario.forge.test/notready@sha256:0000000000000000000000000000000000000000000000000000000000000000");
    yaml += &pod("crash", Some("crashloop"), "registry.forge.test/app:1");
    env.apply(&yaml);

    let get = |name: &str| env.get_json(&["pod", name, "-n", n]);
    let reason_seen = |name: &str, reason: &str| {
        wait_for(
            Duration::from_secs(60),
            &format!("{name}: {reason}"),
            || {
                let p = get(name);
                waiting_reasons(&p).iter().any(|r| r == reason).then_some(p)
            },
        )
    };
    wait_for(Duration::from_secs(60), "ok: Ready", || {
        let p = get("ok");
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(())
    });
    reason_seen("pull", "ErrImagePull");
    let p = reason_seen("pull", "ImagePullBackOff");
    assert_eq!(p["status"]["phase"], "Pending");
    let p = reason_seen("config", "CreateContainerConfigError");
    assert!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
    let p = reason_seen("oom", "CrashLoopBackOff");
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"],
        "OOMKilled"
    );
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        137
    );
    let p = reason_seen("crash", "CrashLoopBackOff");
    let before = restart_count(&p);
    wait_for(
        Duration::from_secs(30),
        "crash: restartCount rising",
        || (restart_count(&get("crash")) >= before + 2).then_some(()),
    );
    // notready: Running with a started container, but never Ready.
    wait_for(Duration::from_secs(60), "notready: Running", || {
        (get("notready")["status"]["phase"] == "Running").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let p = get("notready");
    assert_eq!(p["status"]["phase"], "Running");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], false);
    assert_eq!(p["status"]["containerStatuses"][0]["started"], true);
    let ready = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "False");
}

fn configmap(ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-info\n  namespace: {ns}\ndata:\n  version: \"{value}\"\n"
    )
}

/// Commits `deploy/app.yaml` and pushes it to `branch`; returns the commit id.
fn commit_and_push(wc: &std::path::Path, url: &str, branch: &str, ns: &str, value: &str) -> String {
    std::fs::create_dir_all(wc.join("deploy")).unwrap();
    std::fs::write(wc.join("deploy/app.yaml"), configmap(ns, value)).unwrap();
    git(wc, &["add", "-A"]);
    git(wc, &["commit", "-q", "-m", &format!("release {value}")]);
    git(
        wc,
        &["push", "-q", url, &format!("HEAD:refs/heads/{branch}")],
    );
    git(wc, &["rev-parse", "HEAD"])
}

#[test]
fn flux_reconciles_new_commit() {
    let Some(env) = testenv::get() else { return };
    let ns = env.namespace("flux");
    let n = ns.name.as_str();
    let branch = format!("test-{}", testenv::unique());
    let url = format!("{}/gitops.git", env.git);
    let wc = tempfile::tempdir().unwrap();
    git(wc.path(), &["init", "-q"]);
    let first = commit_and_push(wc.path(), &url, &branch, n, "1");

    env.apply(&format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: gitops
  namespace: {n}
spec:
  interval: 1h
  url: {url}
  ref:
    branch: {branch}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: {n}
spec:
  interval: 1h
  path: ./deploy
  prune: true
  sourceRef:
    kind: GitRepository
    name: gitops
"#
    ));
    let applied = |sha: &str| {
        let sha = sha.to_owned();
        move || {
            let k = env.get_json(&["kustomization", "app", "-n", n]);
            let rev = k["status"]["lastAppliedRevision"].as_str().unwrap_or("");
            rev.ends_with(&sha).then_some(k)
        }
    };
    let k = wait_for(
        Duration::from_secs(120),
        "first commit applied",
        applied(&first),
    );
    assert_eq!(
        k["status"]["lastAppliedRevision"],
        format!("{branch}@sha1:{first}")
    );
    let cm = env.get_json(&["configmap", "release-info", "-n", n]);
    assert_eq!(cm["data"]["version"], "1");

    // Push a second commit and ask for reconciliation the way `flux reconcile
    // kustomization --with-source` does: annotate the source, then the
    // Kustomization, with a new requestedAt token.
    let second = commit_and_push(wc.path(), &url, &branch, n, "2");
    let token = format!("forge-{}", testenv::unique());
    let annotation = format!("reconcile.fluxcd.io/requestedAt={token}");
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "-n",
        n,
        "gitrepository/gitops",
        &annotation,
    ]);
    wait_for(
        Duration::from_secs(60),
        "GitRepository artifact at the second commit",
        || {
            let g = env.get_json(&["gitrepository", "gitops", "-n", n]);
            let rev = g["status"]["artifact"]["revision"].as_str().unwrap_or("");
            rev.ends_with(&second).then_some(())
        },
    );
    env.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "--field-manager=forge-test",
        "-n",
        n,
        "kustomization/app",
        &annotation,
    ]);
    let k = wait_for(Duration::from_secs(60), "second commit applied", || {
        let k = applied(&second)()?;
        (k["status"]["lastHandledReconcileAt"] == token.as_str()).then_some(k)
    });
    assert_eq!(
        k["status"]["lastAppliedRevision"],
        format!("{branch}@sha1:{second}")
    );
    let ready = k["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "True", "{ready}");
    assert_eq!(
        k["status"]["observedGeneration"],
        k["metadata"]["generation"]
    );
    let cm = env.get_json(&["configmap", "release-info", "-n", n]);
    assert_eq!(cm["data"]["version"], "2");
}

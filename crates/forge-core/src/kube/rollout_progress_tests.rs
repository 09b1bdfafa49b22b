use serde_json::json;

use super::*;

const NOW: &str = "2026-01-01T12:00:00Z";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> ProgressRules {
    ProgressRules {
        pods: PodRules::default(),
        pending_limit: Duration::from_secs(120),
        expect_image: None,
    }
}

/// Deployment `web`, 3 replicas, at revision 2 (`image`), with `status` counts
/// (updated, available, replicas) and generation/observed.
fn deployment(generation: i64, observed: i64, counts: (i64, i64, i64)) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "uid": "d-1", "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "app", "image": "reg/web@sha256:new"}]}}},
        "status": {"observedGeneration": observed, "updatedReplicas": counts.0,
            "availableReplicas": counts.1, "replicas": counts.2}
    })
}

fn replicaset(revision: &str, hash: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("web-{hash}"), "labels": {"app": "web", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"uid": "d-1", "kind": "Deployment", "name": "web"}]}
    })
}

fn pod(name: &str, label: (&str, &str), phase: &str, container: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T11:59:00Z",
            "labels": {"app": "web", label.0: label.1}},
        "status": {"phase": phase, "containerStatuses": [container]}
    })
}

fn running() -> Value {
    json!({"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}})
}

fn crashloop(restarts: u64) -> Value {
    json!({"name": "app", "ready": false, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}})
}

fn waiting(reason: &str) -> Value {
    json!({"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": "details"}}})
}

fn eval(workload: &Value, revisions: &[Value], pods: &[Value], rules: &ProgressRules) -> Progress {
    progress(
        &Observed {
            workload,
            revisions,
            pods,
            now: now(),
        },
        rules,
    )
}

fn rs_pair() -> Vec<Value> {
    vec![replicaset("1", "old"), replicaset("2", "new")]
}

#[test]
fn complete_deployment_is_current() {
    let d = deployment(2, 2, (3, 3, 3));
    let pods = [pod(
        "web-new-a",
        ("pod-template-hash", "new"),
        "Running",
        running(),
    )];
    assert_eq!(eval(&d, &rs_pair(), &pods, &rules()), Progress::Current);
}

#[test]
fn stale_status_is_in_progress_and_ignores_pods() {
    // Counts all right but for the previous generation (krane#325); the
    // revision annotation still names the old ReplicaSet, whose pods crash.
    let mut d = deployment(3, 2, (3, 3, 3));
    d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
    let pods = [pod(
        "web-old-a",
        ("pod-template-hash", "old"),
        "Running",
        crashloop(9),
    )];
    let p = eval(&d, &rs_pair(), &pods, &rules());
    assert!(
        matches!(&p, Progress::InProgress { reason } if reason.contains("observed")),
        "{p:?}"
    );
}

#[test]
fn crashloop_in_new_replicaset_fails_naming_the_pod() {
    let d = deployment(2, 2, (1, 3, 4));
    let pods = [
        pod(
            "web-old-a",
            ("pod-template-hash", "old"),
            "Running",
            running(),
        ),
        pod(
            "web-new-a",
            ("pod-template-hash", "new"),
            "Running",
            crashloop(3),
        ),
    ];
    let Progress::Failed { reason, pods } = eval(&d, &rs_pair(), &pods, &rules()) else {
        panic!("not failed")
    };
    assert_eq!(
        reason,
        "new pod web-new-a failed: container app: CrashLoopBackOff (restarted 3 times): \
         back-off 40s; last termination: Error, exit code 1"
    );
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].pod, "web-new-a");
    assert_eq!(pods[0].failures[0].restarts, 3);
}

#[test]
fn crashloop_below_threshold_and_in_old_replicaset_do_not_fail() {
    let d = deployment(2, 2, (1, 2, 4));
    let pods = [
        pod(
            "web-old-a",
            ("pod-template-hash", "old"),
            "Running",
            crashloop(7),
        ),
        pod(
            "web-new-a",
            ("pod-template-hash", "new"),
            "Running",
            crashloop(2),
        ),
    ];
    let p = eval(&d, &rs_pair(), &pods, &rules());
    assert!(matches!(p, Progress::InProgress { .. }), "{p:?}");
    let strict = ProgressRules {
        pods: PodRules {
            crashloop_restarts: 2,
        },
        ..rules()
    };
    assert!(matches!(
        eval(&d, &rs_pair(), &pods, &strict),
        Progress::Failed { .. }
    ));
}

#[test]
fn image_pull_errors_fail_at_once() {
    let d = deployment(2, 2, (1, 3, 4));
    for reason in [
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
    ] {
        let pods = [pod(
            "web-new-a",
            ("pod-template-hash", "new"),
            "Pending",
            waiting(reason),
        )];
        let p = eval(&d, &rs_pair(), &pods, &rules());
        assert!(
            matches!(&p, Progress::Failed { reason: r, .. } if r.contains(reason)),
            "{reason}: {p:?}"
        );
    }
}

#[test]
fn evicted_pods_are_transient() {
    let d = deployment(2, 2, (3, 2, 3));
    let mut evicted = pod(
        "web-new-b",
        ("pod-template-hash", "new"),
        "Failed",
        waiting("x"),
    );
    evicted["status"] = json!({"phase": "Failed", "reason": "Evicted", "message": "low memory"});
    let p = eval(&d, &rs_pair(), &[evicted], &rules());
    assert!(matches!(p, Progress::InProgress { .. }), "{p:?}");
}

#[test]
fn pending_fails_only_after_the_limit() {
    let d = deployment(2, 2, (1, 3, 4));
    let mut unschedulable = pod(
        "web-new-a",
        ("pod-template-hash", "new"),
        "Pending",
        json!({}),
    );
    unschedulable["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
        "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]});
    // Created a minute ago: below the 2-minute limit.
    let pods = [unschedulable.clone()];
    let obs = Observed {
        workload: &d,
        revisions: &rs_pair(),
        pods: &pods,
        now: now(),
    };
    assert!(matches!(
        progress(&obs, &rules()),
        Progress::InProgress { .. }
    ));
    assert_eq!(
        next_pending_deadline(&obs, &rules()).unwrap().to_rfc3339(),
        "2026-01-01T12:01:00+00:00"
    );
    let short = ProgressRules {
        pending_limit: Duration::from_secs(30),
        ..rules()
    };
    let Progress::Failed { reason, pods } = progress(&obs, &short) else {
        panic!("not failed")
    };
    assert_eq!(pods[0].failures[0].reason, "PendingTooLong");
    assert!(
        reason.contains("Unschedulable: 0/3 nodes are available"),
        "{reason}"
    );
    assert!(reason.contains("pending for 60s (limit 30s)"), "{reason}");
    assert_eq!(next_pending_deadline(&obs, &short), None);
}

#[test]
fn progress_deadline_fails_with_the_failing_pods() {
    let mut d = deployment(2, 2, (1, 3, 4));
    d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-new has timed out"}]);
    let pods = [pod(
        "web-new-a",
        ("pod-template-hash", "new"),
        "Running",
        crashloop(1),
    )];
    let Progress::Failed { reason, pods } = eval(&d, &rs_pair(), &pods, &rules()) else {
        panic!("not failed")
    };
    assert!(
        reason.starts_with("exceeded its progress deadline"),
        "{reason}"
    );
    assert!(
        pods.is_empty(),
        "a crash loop below the threshold is no pod failure"
    );
}

#[test]
fn expected_image_gates_a_current_status() {
    let d = deployment(2, 2, (3, 3, 3));
    let want = ProgressRules {
        expect_image: Some("sha256:other".into()),
        ..rules()
    };
    let p = eval(&d, &rs_pair(), &[], &want);
    assert_eq!(
        p,
        Progress::InProgress {
            reason: "waiting for the pod template to use an image containing `sha256:other` \
                     (it uses reg/web@sha256:new)"
                .into()
        }
    );
    let have = ProgressRules {
        expect_image: Some("sha256:new".into()),
        ..rules()
    };
    assert_eq!(eval(&d, &rs_pair(), &[], &have), Progress::Current);
}

#[test]
fn replicasets_of_another_owner_do_not_count() {
    let d = deployment(2, 2, (1, 3, 4));
    let mut foreign = replicaset("2", "other");
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!("d-2");
    let pods = [pod(
        "web-other-a",
        ("pod-template-hash", "other"),
        "Running",
        crashloop(5),
    )];
    let p = eval(&d, &[replicaset("1", "old"), foreign], &pods, &rules());
    assert!(matches!(p, Progress::InProgress { .. }), "{p:?}");
}

fn statefulset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 4},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}},
        "status": {"observedGeneration": 4, "readyReplicas": 1, "updatedReplicas": 1,
            "currentRevision": "db-aaa", "updateRevision": "db-bbb"}
    })
}

#[test]
fn statefulset_looks_at_update_revision_pods() {
    let s = statefulset();
    let old = pod(
        "db-0",
        ("controller-revision-hash", "db-aaa"),
        "Running",
        crashloop(9),
    );
    let p = eval(&s, &[], std::slice::from_ref(&old), &rules());
    assert!(matches!(p, Progress::InProgress { .. }), "{p:?}");
    let new = pod(
        "db-1",
        ("controller-revision-hash", "db-bbb"),
        "Pending",
        waiting("ErrImagePull"),
    );
    let Progress::Failed { pods, .. } = eval(&s, &[], &[old, new], &rules()) else {
        panic!("not failed")
    };
    assert_eq!(pods[0].pod, "db-1");
}

#[test]
fn daemonset_uses_the_newest_controller_revision() {
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "uid": "ds-1", "generation": 2},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}},
        "status": {"observedGeneration": 2, "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 1, "numberAvailable": 1}
    });
    let revision = |n: i64, hash: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": n,
            "metadata": {"name": format!("agent-{hash}"), "labels": {"controller-revision-hash": hash},
                "ownerReferences": [{"uid": "ds-1"}]}
        })
    };
    let revisions = [revision(2, "h2"), revision(1, "h1")];
    let obs = Observed {
        workload: &ds,
        revisions: &revisions,
        pods: &[],
        now: now(),
    };
    assert_eq!(new_revision(&obs).unwrap().name, "agent-h2");
    let pods = [
        pod(
            "agent-x",
            ("controller-revision-hash", "h1"),
            "Running",
            crashloop(5),
        ),
        pod(
            "agent-y",
            ("controller-revision-hash", "h2"),
            "Running",
            crashloop(5),
        ),
    ];
    let Progress::Failed { pods, .. } = eval(&ds, &revisions, &pods, &rules()) else {
        panic!("not failed")
    };
    assert_eq!(
        pods.iter().map(|p| p.pod.as_str()).collect::<Vec<_>>(),
        ["agent-y"]
    );
}

#[test]
fn label_selectors() {
    let w = json!({"spec": {"selector": {"matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]},
                             {"key": "canary", "operator": "DoesNotExist"}]}}});
    assert_eq!(
        label_selector(&w).unwrap(),
        "app=web,tier=front,env in (a,b),!canary"
    );
    assert!(label_selector(&json!({"spec": {}}))
        .unwrap_err()
        .contains("empty"));
}

#[test]
fn status_lines() {
    assert_eq!(
        status_line(&deployment(2, 2, (2, 1, 3))),
        "2/3 updated, 1 available, 1 old"
    );
    assert_eq!(status_line(&statefulset()), "1/2 updated, 1 ready");
}

#[test]
fn event_lines() {
    let e = json!({"type": "Warning", "reason": "BackOff", "count": 5,
        "lastTimestamp": "2026-01-01T12:00:03Z", "message": "Back-off restarting failed container\n",
        "involvedObject": {"kind": "Pod", "name": "web-abc"}});
    assert_eq!(
        event_line(&e),
        "12:00:03 Warning BackOff Pod/web-abc: Back-off restarting failed container (x5)"
    );
}

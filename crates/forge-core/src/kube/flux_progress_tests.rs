use serde_json::{json, Value};

use super::*;

const OURS: &str = "2b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c";
const OLD: &str = "0123456789abcdef0123456789abcdef01234567";
const CHILD: &str = "fedcba9876543210fedcba9876543210fedcba98";
const TOKEN: &str = "2026-11-23T22:02:44.123456789Z";

fn rev(hash: &str) -> String {
    format!("main@sha1:{hash}")
}

fn cond(kind: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "observedGeneration": generation})
}

fn object(kind: &str, generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "x/v1", "kind": kind,
        "metadata": {"namespace": "flux-system", "name": "fleet", "generation": generation},
        "spec": {},
        "status": status,
    })
}

fn source(token: &str, revision: &str, conditions: Value) -> Value {
    object(
        "GitRepository",
        1,
        json!({"lastHandledReconcileAt": token, "artifact": {"revision": revision},
               "observedGeneration": 1, "conditions": conditions}),
    )
}

fn source_ready(hash: &str) -> Value {
    source(
        TOKEN,
        &rev(hash),
        json!([cond("Ready", "True", "Succeeded", "stored artifact", 1)]),
    )
}

fn kustomization(token: &str, applied: &str, attempted: &str, conditions: Value) -> Value {
    object(
        "Kustomization",
        2,
        json!({"lastHandledReconcileAt": token, "lastAppliedRevision": applied,
               "lastAttemptedRevision": attempted, "observedGeneration": 2,
               "conditions": conditions}),
    )
}

fn ks_ready(hash: &str) -> Value {
    kustomization(
        TOKEN,
        &rev(hash),
        &rev(hash),
        json!([cond(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            "Applied revision",
            2
        )]),
    )
}

fn no(_: &str) -> bool {
    false
}

fn ours() -> Wanted<'static> {
    Wanted {
        commit: Some(OURS),
        accept: &no,
    }
}

fn detail(p: &FluxProgress) -> &str {
    match p {
        FluxProgress::WaitingForSource { detail }
        | FluxProgress::WaitingForKustomization { detail, .. } => detail,
        other => panic!("not waiting: {other:?}"),
    }
}

#[test]
fn applied_when_both_carry_our_commit_for_our_token() {
    let p = progress(&source_ready(OURS), &ks_ready(OURS), TOKEN, &ours());
    assert_eq!(
        p,
        FluxProgress::Applied {
            source_revision: rev(OURS),
            revision: rev(OURS),
        }
    );
}

#[test]
fn waits_for_the_source_to_handle_our_token() {
    // Ready with our commit already (the interval fetched it), but not for our request.
    let s = source(
        "older-token",
        &rev(OURS),
        json!([cond("Ready", "True", "Succeeded", "stored artifact", 1)]),
    );
    let p = progress(&s, &ks_ready(OURS), TOKEN, &ours());
    let d = detail(&p);
    assert!(matches!(p, FluxProgress::WaitingForSource { .. }), "{p:?}");
    assert!(
        d.starts_with(
            "GitRepository flux-system/fleet to handle our reconcile request and fetch 2b4f0c1"
        ),
        "{d}"
    );
}

#[test]
fn a_later_request_handled_covers_ours_and_an_earlier_one_does_not() {
    // Another deploy asked after us (its token is later): its run fetched
    // at least our commit, so ours counts as handled; the revision decides.
    let later = "2026-11-23T22:02:45.000000001Z";
    let ready = json!([cond("Ready", "True", "Succeeded", "stored artifact", 1)]);
    let s = source(later, &rev(CHILD), ready.clone());
    let descendant = |h: &str| h == CHILD;
    let wanted = Wanted {
        commit: Some(OURS),
        accept: &descendant,
    };
    let k = kustomization(
        later,
        &rev(CHILD),
        &rev(CHILD),
        json!([cond(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            "Applied revision",
            2
        )]),
    );
    assert!(
        matches!(
            progress(&s, &k, TOKEN, &wanted),
            FluxProgress::Applied { .. }
        ),
        "{:?}",
        progress(&s, &k, TOKEN, &wanted)
    );
    // An earlier token, or one in another form, is not ours.
    let earlier = source("2026-11-23T22:02:43.999999999Z", &rev(OURS), ready.clone());
    assert!(matches!(
        progress(&earlier, &ks_ready(OURS), TOKEN, &ours()),
        FluxProgress::WaitingForSource { .. }
    ));
    let other = source("zzzz", &rev(OURS), ready);
    assert!(matches!(
        progress(&other, &ks_ready(OURS), TOKEN, &ours()),
        FluxProgress::WaitingForSource { .. }
    ));
}

#[test]
fn waits_while_the_source_has_an_older_commit() {
    let p = progress(&source_ready(OLD), &ks_ready(OLD), TOKEN, &ours());
    assert_eq!(
        detail(&p),
        format!(
            "GitRepository flux-system/fleet to fetch 2b4f0c1 (has {}; Ready=True Succeeded: stored artifact)",
            rev(OLD)
        )
    );
}

#[test]
fn source_fetch_failure_for_our_token_fails() {
    let conditions = json!([
        cond(
            "Reconciling",
            "True",
            "ProgressingWithRetry",
            "building artifact",
            1
        ),
        cond(
            "Ready",
            "False",
            "GitOperationFailed",
            "couldn't find remote ref \"refs/heads/x\"",
            1
        ),
        cond(
            "FetchFailed",
            "True",
            "GitOperationFailed",
            "couldn't find remote ref \"refs/heads/x\"",
            1
        ),
    ]);
    let p = progress(
        &source(TOKEN, "", conditions.clone()),
        &ks_ready(OLD),
        TOKEN,
        &ours(),
    );
    assert_eq!(
        p,
        FluxProgress::Failed {
            kind: FluxKind::GitRepository,
            reason: "GitOperationFailed".into(),
            message: "couldn't find remote ref \"refs/heads/x\"".into(),
        }
    );
    // The same failure from before our request is stale: keep waiting.
    let p = progress(
        &source("older", "", conditions),
        &ks_ready(OLD),
        TOKEN,
        &ours(),
    );
    assert!(
        detail(&p).contains("Ready=False GitOperationFailed"),
        "{p:?}"
    );
}

#[test]
fn source_ready_from_an_older_generation_is_stale() {
    let mut s = source_ready(OURS);
    s["metadata"]["generation"] = json!(2);
    let p = progress(&s, &ks_ready(OURS), TOKEN, &ours());
    assert!(
        detail(&p).contains("to report Ready for generation 2"),
        "{p:?}"
    );
}

#[test]
fn kustomization_waits_for_our_token() {
    let k = kustomization(
        "older",
        &rev(OLD),
        &rev(OLD),
        json!([cond(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            "Applied revision",
            2
        )]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert_eq!(
        p,
        FluxProgress::WaitingForKustomization {
            source_revision: rev(OURS),
            detail: format!(
                "Kustomization flux-system/fleet to handle our reconcile request and apply 2b4f0c1 \
                 (has {}; Ready=True ReconciliationSucceeded: Applied revision)",
                rev(OLD)
            ),
        }
    );
}

#[test]
fn stale_ready_at_an_old_generation_is_not_applied() {
    // Our revision and token, but Ready (and observedGeneration) belong to generation 2 of 3.
    let mut k = ks_ready(OURS);
    k["metadata"]["generation"] = json!(3);
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        detail(&p).contains("to report Ready for its generation"),
        "{p:?}"
    );
    // Ready at the new generation but status.observedGeneration still old: not yet.
    let mut k = ks_ready(OURS);
    k["status"]["observedGeneration"] = json!(1);
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(detail(&p).contains("to apply 2b4f0c1"), "{p:?}");
}

#[test]
fn build_failure_of_an_older_revision_keeps_waiting() {
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OLD),
        json!([cond(
            "Ready",
            "False",
            "BuildFailed",
            "kustomize build failed: old",
            2
        )]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        detail(&p).ends_with("Ready=False BuildFailed: kustomize build failed: old)"),
        "{p:?}"
    );
}

#[test]
fn build_failure_of_our_revision_fails_with_flux_message() {
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OURS),
        json!([
            cond(
                "Reconciling",
                "True",
                "ProgressingWithRetry",
                "Building manifests",
                2
            ),
            cond(
                "Ready",
                "False",
                "BuildFailed",
                "kustomize build failed: missing.yaml",
                2
            ),
        ]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert_eq!(
        p,
        FluxProgress::Failed {
            kind: FluxKind::Kustomization,
            reason: "BuildFailed".into(),
            message: "kustomize build failed: missing.yaml".into(),
        }
    );
}

#[test]
fn health_check_and_apply_failures_fail_too() {
    for reason in [
        "HealthCheckFailed",
        "ReconciliationFailed",
        "ArtifactFailed",
        "PruneFailed",
    ] {
        let k = kustomization(
            TOKEN,
            &rev(OLD),
            &rev(OURS),
            json!([cond("Ready", "False", reason, "boom", 2)]),
        );
        let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
        assert!(
            matches!(&p, FluxProgress::Failed { reason: r, .. } if r == reason),
            "{p:?}"
        );
    }
}

#[test]
fn retried_reasons_keep_waiting() {
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OURS),
        json!([cond(
            "Ready",
            "False",
            "DependencyNotReady",
            "dependency 'infra' is not ready",
            2
        )]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        detail(&p).contains("dependency 'infra' is not ready"),
        "{p:?}"
    );
}

#[test]
fn missing_path_fails_before_the_attempted_revision_is_written() {
    let message = "kustomization path not found: stat /tmp/k/deploy: no such file or directory";
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OLD),
        json!([cond("Ready", "False", "ArtifactFailed", message, 2)]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        matches!(&p, FluxProgress::Failed { message: m, .. } if m == message),
        "{p:?}"
    );
    // Other artifact failures of an older revision (e.g. "artifact not found, retrying") wait.
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OLD),
        json!([cond(
            "Ready",
            "False",
            "ArtifactFailed",
            "Source artifact not found, retrying in 5s",
            2
        )]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        matches!(p, FluxProgress::WaitingForKustomization { .. }),
        "{p:?}"
    );
}

#[test]
fn stalled_fails_for_our_token() {
    let k = kustomization(
        TOKEN,
        &rev(OLD),
        &rev(OLD),
        json!([
            cond("Stalled", "True", "InvalidPath", "path ./nope not found", 2),
            cond("Ready", "False", "InvalidPath", "path ./nope not found", 2),
        ]),
    );
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert_eq!(
        p,
        FluxProgress::Failed {
            kind: FluxKind::Kustomization,
            reason: "InvalidPath".into(),
            message: "path ./nope not found".into(),
        }
    );
}

#[test]
fn suspended_objects() {
    let mut s = source_ready(OURS);
    s["spec"]["suspend"] = json!(true);
    assert_eq!(
        progress(&s, &ks_ready(OURS), TOKEN, &ours()),
        FluxProgress::Suspended {
            kind: FluxKind::GitRepository
        }
    );
    let mut k = ks_ready(OLD);
    k["spec"]["suspend"] = json!(true);
    assert_eq!(
        progress(&source_ready(OURS), &k, TOKEN, &ours()),
        FluxProgress::Suspended {
            kind: FluxKind::Kustomization
        }
    );
}

#[test]
fn descendants_are_accepted_when_the_caller_says_so() {
    let child = |h: &str| h == CHILD;
    let wanted = Wanted {
        commit: Some(OURS),
        accept: &child,
    };
    let p = progress(&source_ready(CHILD), &ks_ready(CHILD), TOKEN, &wanted);
    assert_eq!(
        p,
        FluxProgress::Applied {
            source_revision: rev(CHILD),
            revision: rev(CHILD),
        }
    );
    // Without the check, only the exact commit counts.
    let p = progress(&source_ready(CHILD), &ks_ready(CHILD), TOKEN, &ours());
    assert!(matches!(p, FluxProgress::WaitingForSource { .. }), "{p:?}");
}

#[test]
fn without_a_commit_the_fetched_revision_is_wanted() {
    let any = Wanted {
        commit: None,
        accept: &no,
    };
    let p = progress(&source_ready(CHILD), &ks_ready(CHILD), TOKEN, &any);
    assert!(matches!(p, FluxProgress::Applied { .. }), "{p:?}");
    let p = progress(&source_ready(CHILD), &ks_ready(OLD), TOKEN, &any);
    assert!(detail(&p).contains("to apply fedcba9"), "{p:?}");
}

#[test]
fn abbreviated_commits_match() {
    let wanted = Wanted {
        commit: Some("2B4F0C1D"),
        accept: &no,
    };
    let p = progress(&source_ready(OURS), &ks_ready(OURS), TOKEN, &wanted);
    assert!(matches!(p, FluxProgress::Applied { .. }), "{p:?}");
    assert!(
        !same_commit(OURS, "2b4f0c"),
        "fewer than 7 digits never match"
    );
}

#[test]
fn revision_hashes() {
    assert_eq!(revision_hash(&rev(OURS)), OURS);
    assert_eq!(revision_hash(&format!("sha1:{OURS}")), OURS);
    assert_eq!(revision_hash(&format!("v1.0.1@sha256:{OURS}")), OURS);
    assert_eq!(revision_hash(&format!("main/{OURS}")), OURS);
    assert_eq!(revision_hash(&format!("feature/x@sha1:{OURS}")), OURS);
    assert_eq!(revision_hash(""), "");
}

#[test]
fn an_object_being_deleted_fails() {
    let mut k = ks_ready(OURS);
    k["metadata"]["deletionTimestamp"] = json!("2026-11-23T22:00:00Z");
    let p = progress(&source_ready(OURS), &k, TOKEN, &ours());
    assert!(
        matches!(&p, FluxProgress::Failed { kind: FluxKind::Kustomization, reason, .. } if reason == "Deleting"),
        "{p:?}"
    );
}

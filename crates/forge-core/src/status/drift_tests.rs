//! Every drift class from every way into it, and the precedence between them.

use crate::gitops::image_pin::ImagePin;
use crate::kube::rollout_verdict::Verdict;
use crate::release::RunState;

use super::drift::{classify, Drift};
use super::model::*;

const PINNED: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TIP: &str = "1111111111111111111111111111111111111111";
const PIN_COMMIT: &str = "2222222222222222222222222222222222222222";
const OLDER: &str = "3333333333333333333333333333333333333333";

fn commit(id: &str) -> CommitView {
    CommitView {
        id: id.into(),
        author: "Ada".into(),
        at: 0,
        subject: "pin".into(),
    }
}

fn run(state: RunState) -> RunView {
    RunView {
        id: "run-1-1".into(),
        state,
        actor: "ada".into(),
        started_at: 0,
        updated_at: 0,
        release: None,
        failed_step: None,
        error: None,
    }
}

fn ledger(digest: &str) -> LedgerView {
    LedgerView {
        last_run: Some(run(RunState::Succeeded)),
        deployed: Some(DeployedView {
            run: "run-1-1".into(),
            digest: digest.into(),
            reference: None,
            commit: Some(PIN_COMMIT.into()),
            actor: "ada".into(),
            at: 0,
            release: None,
        }),
    }
}

fn git(digest: Option<&str>) -> GitView {
    GitView::Read {
        file: "apps/app/kustomization.yaml".into(),
        tip: commit(TIP),
        pin: Some(ImagePin {
            new_name: Some("reg/app".into()),
            tag: Some("v1".into()),
            digest: digest.map(str::to_owned),
        }),
        reference: Some(format!("reg/app:v1@{}", digest.unwrap_or(""))),
        pin_commit: Some(commit(PIN_COMMIT)),
        since_pin: vec![TIP.into(), PIN_COMMIT.into()],
    }
}

fn flux(applied: Option<&str>) -> FluxView {
    FluxView {
        name: "flux-system/apps".into(),
        last_applied_revision: applied.map(|a| format!("main@sha1:{a}")),
        ready: Some("True".into()),
        reason: Some("ReconciliationSucceeded".into()),
        message: None,
        suspended: false,
    }
}

fn workload(template: &str, running: &[(&str, usize)], verdict: Verdict) -> WorkloadView {
    WorkloadView {
        name: "Deployment prod/app".into(),
        template_images: vec![format!("reg/app:v1@{template}")],
        running: running
            .iter()
            .map(|(d, n)| RunningImage {
                image: format!("reg/app:v1@{d}"),
                digest: Some((*d).into()),
                pods: *n,
            })
            .collect(),
        ready_replicas: 2,
        desired_replicas: 2,
        verdict,
    }
}

fn observed(k: Option<FluxView>, w: Option<WorkloadView>) -> ClusterView {
    ClusterView::Observed {
        kustomization: k,
        workload: w,
    }
}

fn healthy() -> ClusterView {
    observed(
        Some(flux(Some(TIP))),
        Some(workload(PINNED, &[(PINNED, 2)], Verdict::Current)),
    )
}

fn class(l: &LedgerView, g: &GitView, c: &ClusterView) -> (Drift, String) {
    classify("prod", l, g, c)
}

#[test]
fn in_sync_when_all_three_agree() {
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &healthy());
    assert_eq!(d, Drift::InSync, "{why}");
    assert_eq!(
        why,
        "sha256:aaaaaaaaaaaa everywhere (run run-1-1 by ada): Flux applied 1111111, 2/2 ready"
    );
}

#[test]
fn in_sync_when_flux_applied_the_pin_commit_itself_or_a_later_one() {
    for applied in [PIN_COMMIT, TIP, &TIP[..7]] {
        let c = observed(
            Some(flux(Some(applied))),
            Some(workload(PINNED, &[(PINNED, 2)], Verdict::Current)),
        );
        assert_eq!(
            class(&ledger(PINNED), &git(Some(PINNED)), &c).0,
            Drift::InSync
        );
    }
}

#[test]
fn in_sync_without_a_cluster_says_there_is_none() {
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &ClusterView::Disabled);
    assert_eq!(d, Drift::InSync);
    assert!(why.contains("environments.prod has no cluster"), "{why}");
}

#[test]
fn in_sync_but_not_rolled_out_says_so() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(
            PINNED,
            &[(PINNED, 2)],
            Verdict::InProgress {
                reason: "1 of 2 available".into(),
            },
        )),
    );
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::InSync);
    assert!(why.ends_with("; not rolled out: 1 of 2 available"), "{why}");
}

#[test]
fn in_sync_with_no_pods_yet() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(PINNED, &[], Verdict::Current)),
    );
    assert_eq!(
        class(&ledger(PINNED), &git(Some(PINNED)), &c).0,
        Drift::InSync
    );
}

#[test]
fn git_ahead_when_flux_applied_an_older_commit_or_nothing() {
    for applied in [Some(OLDER), None] {
        let c = observed(
            Some(flux(applied)),
            Some(workload(OTHER, &[(OTHER, 2)], Verdict::Current)),
        );
        let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
        assert_eq!(d, Drift::GitAhead, "{why}");
        assert!(
            why.starts_with(
                "git pins sha256:aaaaaaaaaaaa at 2222222, Flux (flux-system/apps) has applied "
            ),
            "{why}"
        );
    }
    let c = observed(Some(flux(None)), None);
    assert!(class(&ledger(PINNED), &git(Some(PINNED)), &c)
        .1
        .contains("applied nothing yet"));
}

#[test]
fn git_ahead_names_a_suspended_kustomization_and_a_running_run() {
    let mut k = flux(Some(OLDER));
    k.suspended = true;
    let mut l = ledger(PINNED);
    l.last_run = Some(run(RunState::Running));
    let (d, why) = class(&l, &git(Some(PINNED)), &observed(Some(k), None));
    assert_eq!(d, Drift::GitAhead);
    assert!(
        why.ends_with("; the Kustomization is suspended; run run-1-1 is in progress"),
        "{why}"
    );
}

#[test]
fn git_ahead_while_pods_roll_over() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(
            PINNED,
            &[(PINNED, 1), (OTHER, 1)],
            Verdict::InProgress {
                reason: "1 old replica pending termination".into(),
            },
        )),
    );
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::GitAhead);
    assert!(
        why.contains("still rolling over (sha256:bbbbbbbbbbbb on 1 pod(s))"),
        "{why}"
    );
}

#[test]
fn cluster_drift_when_the_template_was_edited() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(OTHER, &[(OTHER, 2)], Verdict::Current)),
    );
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::ClusterDrift);
    assert_eq!(why, "git pins sha256:aaaaaaaaaaaa, but Deployment prod/app's template says reg/app:v1@sha256:bbbbbbbbbbbb (edited by hand or by an admission controller)");
}

#[test]
fn cluster_drift_when_pods_run_another_digest_after_the_rollout() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(
            PINNED,
            &[(PINNED, 1), (OTHER, 1)],
            Verdict::Current,
        )),
    );
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::ClusterDrift);
    assert!(
        why.ends_with("runs sha256:bbbbbbbbbbbb on 1 pod(s)"),
        "{why}"
    );
}

#[test]
fn cluster_drift_when_the_kustomization_or_the_workload_is_missing() {
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &observed(None, None));
    assert_eq!(d, Drift::ClusterDrift);
    assert!(why.contains("Kustomization does not exist"), "{why}");
    let c = observed(Some(flux(Some(TIP))), None);
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::ClusterDrift);
    assert!(why.contains("workload does not exist"), "{why}");
}

#[test]
fn ledger_stale_when_git_pins_another_digest_or_none() {
    let (d, why) = class(&ledger(OTHER), &git(Some(PINNED)), &healthy());
    assert_eq!(d, Drift::LedgerStale);
    assert_eq!(why, "git pins reg/app:v1@sha256:aaaaaaaaaaaa (commit 2222222 by Ada), but the ledger's last run run-1-1 shipped sha256:bbbbbbbbbbbb: git changed outside Forge");
    // A pin by tag only is not what the ledger shipped either.
    assert_eq!(
        class(&ledger(PINNED), &git(None), &healthy()).0,
        Drift::LedgerStale
    );
}

#[test]
fn ledger_stale_when_the_ledger_has_no_succeeded_run() {
    for l in [
        LedgerView::default(),
        LedgerView {
            last_run: Some(run(RunState::Cancelled)),
            deployed: None,
        },
    ] {
        let (d, why) = class(&l, &git(Some(PINNED)), &healthy());
        assert_eq!(d, Drift::LedgerStale);
        assert!(
            why.ends_with("but the ledger has no succeeded run here"),
            "{why}"
        );
    }
}

#[test]
fn ledger_stale_wins_over_git_ahead() {
    // A commit pushed by hand: Flux has not applied it either.
    let c = observed(
        Some(flux(Some(OLDER))),
        Some(workload(OTHER, &[(OTHER, 2)], Verdict::Current)),
    );
    assert_eq!(
        class(&ledger(OTHER), &git(Some(PINNED)), &c).0,
        Drift::LedgerStale
    );
}

#[test]
fn failed_when_the_last_run_failed() {
    let mut l = ledger(PINNED);
    let mut r = run(RunState::Failed);
    r.failed_step = Some("rollout".into());
    r.error = Some("CrashLoopBackOff: exit 1\nlogs…".into());
    l.last_run = Some(r);
    let (d, why) = class(&l, &git(Some(PINNED)), &healthy());
    assert_eq!(d, Drift::Failed);
    assert_eq!(
        why,
        "run run-1-1 failed at rollout: CrashLoopBackOff: exit 1"
    );
    l.last_run = Some(run(RunState::Failed));
    assert_eq!(
        class(&l, &git(Some(PINNED)), &ClusterView::Disabled).1,
        "run run-1-1 failed"
    );
}

#[test]
fn failed_when_the_rollout_failed() {
    let c = observed(
        Some(flux(Some(TIP))),
        Some(workload(
            PINNED,
            &[(PINNED, 2)],
            Verdict::Failed {
                reason: "ProgressDeadlineExceeded".into(),
            },
        )),
    );
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::Failed);
    assert_eq!(
        why,
        "the rollout of Deployment prod/app failed: ProgressDeadlineExceeded"
    );
}

#[test]
fn failed_when_flux_cannot_apply_but_not_while_it_works() {
    let mut k = flux(Some(OLDER));
    k.ready = Some("False".into());
    k.reason = Some("BuildFailed".into());
    k.message = Some("kustomize build failed: missing-file.yaml\nmore".into());
    let (d, why) = class(
        &ledger(PINNED),
        &git(Some(PINNED)),
        &observed(Some(k.clone()), None),
    );
    assert_eq!(d, Drift::Failed);
    assert_eq!(why, "Flux cannot apply flux-system/apps (BuildFailed): kustomize build failed: missing-file.yaml");
    for working in ["Progressing", "ProgressingWithRetry", "DependencyNotReady"] {
        k.reason = Some(working.into());
        let c = observed(Some(k.clone()), None);
        assert_eq!(
            class(&ledger(PINNED), &git(Some(PINNED)), &c).0,
            Drift::GitAhead
        );
    }
    k.ready = Some("Unknown".into());
    k.reason = Some("BuildFailed".into());
    let c = observed(Some(k), None);
    assert_eq!(
        class(&ledger(PINNED), &git(Some(PINNED)), &c).0,
        Drift::GitAhead
    );
}

#[test]
fn failed_wins_over_ledger_stale() {
    let mut l = ledger(OTHER);
    l.last_run = Some(run(RunState::Failed));
    assert_eq!(class(&l, &git(Some(PINNED)), &healthy()).0, Drift::Failed);
}

#[test]
fn unknown_when_the_cluster_is_unreachable_whatever_else_says() {
    let c = ClusterView::Unreachable {
        reason: "connection refused".into(),
    };
    let mut l = ledger(OTHER);
    l.last_run = Some(run(RunState::Failed));
    for l in [ledger(PINNED), l] {
        let (d, why) = class(&l, &git(Some(PINNED)), &c);
        assert_eq!(d, Drift::Unknown);
        assert_eq!(
            why,
            "cluster unreachable (connection refused): what runs is not known"
        );
    }
}

#[test]
fn unknown_when_git_cannot_be_read_or_has_no_pin() {
    let g = GitView::Unreadable {
        reason: "no branch main".into(),
    };
    let (d, why) = class(&ledger(PINNED), &g, &healthy());
    assert_eq!(d, Drift::Unknown);
    assert_eq!(why, "cannot read the GitOps repository: no branch main");
    let GitView::Read { mut pin, .. } = git(Some(PINNED)) else {
        unreachable!()
    };
    pin.take();
    let g = GitView::Read {
        file: "k.yaml".into(),
        tip: commit(TIP),
        pin,
        reference: None,
        pin_commit: None,
        since_pin: vec![],
    };
    let (d, why) = class(&ledger(PINNED), &g, &healthy());
    assert_eq!(d, Drift::Unknown);
    assert!(why.starts_with("k.yaml has no `images:` entry"), "{why}");
}

#[test]
fn unknown_when_pods_report_no_digest() {
    let mut w = workload(PINNED, &[(PINNED, 1)], Verdict::Current);
    w.running.push(RunningImage {
        image: "reg/app:v1".into(),
        digest: None,
        pods: 1,
    });
    let c = observed(Some(flux(Some(TIP))), Some(w));
    let (d, why) = class(&ledger(PINNED), &git(Some(PINNED)), &c);
    assert_eq!(d, Drift::Unknown);
    assert!(why.contains("report no image digest"), "{why}");
}

#[test]
fn names_parse_back_and_severity_orders_them() {
    for d in Drift::ALL {
        assert_eq!(Drift::parse(d.as_str()), Ok(d));
        assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        assert!(!d.meaning().is_empty());
    }
    assert!(Drift::parse("drifty").is_err());
    let mut by_severity = Drift::ALL;
    by_severity.sort_by_key(|d| d.severity());
    assert_eq!(by_severity, Drift::ALL);
}

#[test]
fn a_report_counts_every_class_and_knows_the_worst() {
    let t = |drift| TargetStatus {
        service: "app".into(),
        environment: "prod".into(),
        drift,
        explanation: String::new(),
        ledger: LedgerView::default(),
        git: git(Some(PINNED)),
        cluster: ClusterView::Disabled,
    };
    let r = StatusReport::new(
        0,
        0,
        vec![t(Drift::InSync), t(Drift::GitAhead), t(Drift::InSync)],
    );
    assert_eq!(r.summary.len(), 6);
    assert_eq!(r.summary[&Drift::InSync], 2);
    assert_eq!(r.summary[&Drift::Unknown], 0);
    assert_eq!(r.worst(), Drift::GitAhead);
    assert_eq!(StatusReport::new(0, 0, vec![]).worst(), Drift::InSync);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema"], "forge.status/v1");
    assert_eq!(json["summary"]["git-ahead"], 1);
    assert!(json["targets"][0]["git"].get("since_pin").is_none());
}

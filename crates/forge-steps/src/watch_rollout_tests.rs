use serde_json::json;

use super::*;

#[test]
fn cache_replaces_its_objects_on_relist() {
    let pod = |name: &str| json!({"metadata": {"name": name}});
    let mut cache = Cache::default();
    cache.apply(watcher::Event::Init);
    cache.apply(watcher::Event::InitApply(pod("a")));
    assert!(!cache.ready);
    cache.apply(watcher::Event::InitDone);
    cache.apply(watcher::Event::Apply(pod("b")));
    assert_eq!(cache.live.keys().collect::<Vec<_>>(), ["a", "b"]);
    cache.apply(watcher::Event::Init);
    cache.apply(watcher::Event::InitApply(pod("c")));
    assert_eq!(
        cache.live.len(),
        2,
        "the old view stays until the re-list is done"
    );
    cache.apply(watcher::Event::InitDone);
    assert_eq!(cache.live.keys().collect::<Vec<_>>(), ["c"]);
}

#[test]
fn render_failure_with_logs_and_events() {
    let report = RolloutReport {
        workload: "Deployment prod/web".into(),
        elapsed: Duration::from_millis(8_400),
        outcome: RolloutOutcome::Failed {
            reason: "new pod web-1 failed: container app: CrashLoopBackOff".into(),
            pods: vec![FailedPod {
                pod: "web-1".into(),
                failures: vec![ContainerFailure {
                    container: "app".into(),
                    reason: "CrashLoopBackOff".into(),
                    message: "back-off 10s".into(),
                    restarts: 3,
                }],
                logs: vec![("app".into(), "boom\ndone\n".into())],
            }],
            events: vec!["12:00:03 Warning BackOff Pod/web-1: Back-off".into()],
        },
    };
    insta::assert_snapshot!(report.render(), @r"
    Deployment prod/web failed to roll out (8.4 s): new pod web-1 failed: container app: CrashLoopBackOff
      pod web-1:
        container app: CrashLoopBackOff (restarted 3 times): back-off 10s
        last log lines of app, previous run:
          | boom
          | done
      recent events:
        12:00:03 Warning BackOff Pod/web-1: Back-off
    ");
    assert!(!report.succeeded());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "Failed");
    assert_eq!(json["elapsed_seconds"], 8.4);
    assert_eq!(json["pods"][0]["logs"][0]["container"], "app");
}

//! The read-only queries status and the API ask: newest runs per service ×
//! environment, steps of many runs, release and audit pages, metric counts.

use forge_core::release::{RunState, StepKey, Transition};
use forge_ledger::{Ledger, ReleaseCursor};

use crate::support::{new_run, release, run_id, suite, Store, MINUTE};

suite!(
    newest_runs_per_service_and_environment,
    release_and_audit_pages_are_stable_and_complete,
    a_read_only_ledger_reads_what_writers_write_and_cannot_write,
);

async fn newest_runs_per_service_and_environment(store: Store) {
    let ledger = store.open().await;
    assert!(ledger.latest_runs_by_target().await.unwrap().is_empty());
    // 1: api+web in staging, succeeded; 2: api in staging, failed;
    // 3: web in prod, still running.
    let plan = [
        (1, "staging", vec!["api", "web"], Some(RunState::Succeeded)),
        (2, "staging", vec!["api"], Some(RunState::Failed)),
        (3, "prod", vec!["web"], None),
    ];
    for (n, env, services, end) in &plan {
        let id = run_id(*n);
        ledger
            .create_run(new_run(&id, env, services))
            .await
            .unwrap();
        let scope = format!("{}/{env}", services[0]);
        let lease = ledger
            .acquire_lease(&scope, &id, "host:1", MINUTE, 1_000)
            .await
            .unwrap();
        let key = StepKey::new(services[0], env, "pin");
        ledger
            .transition_step(&id, &key, Transition::Start, None, None, &lease)
            .await
            .unwrap();
        if let Some(state) = end {
            ledger.set_run_state(&id, *state, &lease).await.unwrap();
        }
        ledger.release_lease(&lease).await.unwrap();
    }
    let targets = ledger.latest_runs_by_target().await.unwrap();
    let view: Vec<(String, String, String, Option<String>)> = targets
        .iter()
        .map(|t| {
            (
                t.service.clone(),
                t.environment.clone(),
                t.last.id.to_string(),
                t.last_succeeded.as_ref().map(|r| r.id.to_string()),
            )
        })
        .collect();
    let id = |n| run_id(n).to_string();
    assert_eq!(
        view,
        vec![
            ("api".into(), "staging".into(), id(2), Some(id(1))),
            ("web".into(), "prod".into(), id(3), None),
            ("web".into(), "staging".into(), id(1), Some(id(1))),
        ]
    );
    assert_eq!(targets[0].last.state, RunState::Failed);

    let steps = ledger
        .steps_of_runs(&[run_id(1), run_id(3), run_id(99)])
        .await
        .unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[&run_id(1)][0].key.as_str(), "api/staging/pin");
    assert_eq!(steps[&run_id(3)][0].key.as_str(), "web/prod/pin");
    assert!(ledger.steps_of_runs(&[]).await.unwrap().is_empty());

    let counts = ledger.run_counts().await.unwrap();
    assert_eq!(counts.get("succeeded"), Some(&1));
    assert_eq!(counts.get("failed"), Some(&1));
    assert_eq!(counts.get("running"), Some(&1));
    let timings = ledger.step_timings().await.unwrap();
    assert_eq!(timings.len(), 3);
    assert!(timings
        .iter()
        .all(|t| t.action == "pin" && t.started_at.is_some()));
}

async fn release_and_audit_pages_are_stable_and_complete(store: Store) {
    let ledger = store.open().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = ledger
            .put_release(&release(&format!("sha256:{n:02}")))
            .await
            .unwrap();
        ids.push(id);
    }
    assert_eq!(ledger.release_count().await.unwrap(), 5);
    // Pages of two, newest first, until an empty page: every release once.
    let mut seen = Vec::new();
    let mut cursor: Option<ReleaseCursor> = None;
    loop {
        let page = ledger.releases_page(2, cursor.as_ref()).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        let last = page.last().unwrap();
        cursor = Some(ReleaseCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut expected = ids.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "{seen:?}");
    let c = cursor.unwrap();
    assert_eq!(ReleaseCursor::parse(&c.encode()).unwrap(), c);
    assert!(ReleaseCursor::parse("12").is_err());
    assert!(ReleaseCursor::parse("x.y").is_err());
    let record = ledger.release_record(&ids[0]).await.unwrap().unwrap();
    assert_eq!(record.release, release("sha256:00"));
    assert!(ledger.runs_of_release(&ids[0]).await.unwrap().is_empty());

    for n in 0..4 {
        ledger
            .append_audit(
                "ada",
                "run.started",
                &format!("s{n}"),
                serde_json::Value::Null,
                serde_json::json!({"n": n}),
                1_000 + n,
            )
            .await
            .unwrap();
    }
    let page = ledger.audit_page(1, None, 2).await.unwrap();
    let seqs: Vec<i64> = page.iter().map(|(e, _)| e.seq).collect();
    assert_eq!(seqs, vec![2, 3]);
    let since = ledger.audit_page(0, Some(1_003), 10).await.unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].0.subject, "s3");
    // The same events and hashes as the whole log.
    assert_eq!(ledger.audit().await.unwrap()[1..3], page[..]);
}

async fn a_read_only_ledger_reads_what_writers_write_and_cannot_write(store: Store) {
    if store.kind() == "sqlite" {
        let missing = Ledger::open_read_only(&store.location()).await.unwrap_err();
        assert!(
            missing.to_string().contains("no ledger there yet"),
            "{missing}"
        );
        assert!(!std::path::Path::new(&store.location().display()).exists());
    }
    let writer = store.open().await;
    let reader = Ledger::open_read_only(&store.location()).await.unwrap();
    assert!(reader.latest_runs_by_target().await.unwrap().is_empty());
    // The writer writes while the reader is open; the reader sees it.
    writer
        .create_run(new_run(&run_id(1), "prod", &["api"]))
        .await
        .unwrap();
    let seen = reader.latest_runs_by_target().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        reader.run(&run_id(1)).await.unwrap().unwrap().environment,
        "prod"
    );
    // The reader cannot write.
    let refused = reader
        .create_run(new_run(&run_id(2), "prod", &["api"]))
        .await;
    assert!(refused.is_err(), "a read-only ledger wrote");
    assert_eq!(writer.run(&run_id(2)).await.unwrap(), None);
    reader.close().await;
    writer.close().await;
}

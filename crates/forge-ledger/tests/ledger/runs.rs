//! Releases, runs and steps: round trips, idempotence, the state machine.

use forge_core::release::{RunState, StepKey, StepState, Transition};
use forge_ledger::{LedgerError, RunFilter};
use serde_json::json;

use crate::support::{new_run, release, run_id, running, suite, Store, MINUTE};

suite!(
    releases_runs_and_steps_round_trip,
    put_release_is_idempotent_and_refuses_other_content_under_its_id,
    runs_are_listed_newest_first_by_environment_and_service,
    duplicate_runs_and_unknown_releases_are_refused,
    invalid_transitions_are_refused_and_change_nothing,
    attempts_are_counted_and_outcomes_timed,
    a_lease_of_another_run_or_scope_does_not_cover_a_write,
    a_run_gets_its_release_once_it_is_built,
);

async fn releases_runs_and_steps_round_trip(store: Store) {
    let ledger = store.open().await;
    let rel = release("sha256:aa");
    let id = ledger.put_release(&rel).await.unwrap();
    assert_eq!(id, rel.id());
    assert_eq!(ledger.release(&id).await.unwrap(), Some(rel.clone()));
    assert_eq!(
        ledger.release(&release("sha256:zz").id()).await.unwrap(),
        None
    );

    let run = run_id(1);
    let mut new = new_run(&run, "staging", &["api", "web"]);
    new.release = Some(id.clone());
    let created = ledger.create_run(new).await.unwrap();
    assert_eq!(created.state, RunState::Running);
    let stored = ledger.run(&run).await.unwrap().unwrap();
    assert_eq!(stored, created);
    assert_eq!(stored.release, Some(id));
    assert_eq!(stored.services, ["api", "web"]);
    assert_eq!(stored.actor, "tester@host");
    assert_eq!(ledger.run(&run_id(99)).await.unwrap(), None);

    let lease = ledger
        .acquire_lease("api/staging", &run, "host-a:1", MINUTE, 1_000)
        .await
        .unwrap();
    let key = StepKey::new("api", "staging", "migrate");
    ledger
        .transition_step(&run, &key, Transition::Start, None, None, &lease)
        .await
        .unwrap();
    // Verbatim: several lines, quotes, backslashes, non-ASCII, trailing space.
    let error = "psql: error: \"x\" \\ failed\n  détail: ligne 2 \n\tend ";
    let outputs = json!({"applied": ["0001_init"], "took_ms": 12.5, "n": 18446744073709551615u64});
    let failed = ledger
        .transition_step(
            &run,
            &key,
            Transition::Fail,
            Some(outputs.clone()),
            Some(error.into()),
            &lease,
        )
        .await
        .unwrap();
    let steps = ledger.steps(&run).await.unwrap();
    assert_eq!(steps, vec![failed.clone()]);
    assert_eq!(steps[0].error.as_deref(), Some(error));
    assert_eq!(steps[0].outputs, Some(outputs));
    assert_eq!(steps[0].state, StepState::Failed);

    ledger
        .set_run_state(&run, RunState::Failed, &lease)
        .await
        .unwrap();
    let after = ledger.run(&run).await.unwrap().unwrap();
    assert_eq!(after.state, RunState::Failed);
    assert!(after.updated_at >= after.created_at);

    // A second handle (another process, in effect) reads the same.
    ledger.close().await;
    let again = store.open().await;
    assert_eq!(again.steps(&run).await.unwrap(), vec![failed]);
    assert_eq!(again.run(&run).await.unwrap(), Some(after));
}

async fn put_release_is_idempotent_and_refuses_other_content_under_its_id(store: Store) {
    let ledger = store.open().await;
    let rel = release("sha256:aa");
    let id = ledger.put_release(&rel).await.unwrap();
    assert_eq!(ledger.put_release(&rel).await.unwrap(), id);
    assert_eq!(ledger.release(&id).await.unwrap(), Some(rel.clone()));

    // Ids are content hashes, so other content under one id can only come
    // from outside (or a change of what the id covers): make it by hand.
    let other = serde_json::to_string(&release("sha256:bb")).unwrap();
    store
        .raw(&format!(
            "UPDATE releases SET content = '{other}' WHERE id = '{id}'"
        ))
        .await;
    let err = ledger.put_release(&rel).await.unwrap_err();
    assert!(
        matches!(&err, LedgerError::ReleaseConflict(c) if *c == id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("release {id} is already recorded with different content")
    );
    // The stored content was not overwritten.
    assert_eq!(
        ledger.release(&id).await.unwrap(),
        Some(release("sha256:bb"))
    );
}

async fn runs_are_listed_newest_first_by_environment_and_service(store: Store) {
    let ledger = store.open().await;
    let specs: [(u64, &str, &[&str]); 5] = [
        (1, "staging", &["api"]),
        (2, "production", &["api", "web"]),
        (3, "staging", &["web"]),
        (4, "staging", &["api", "web"]),
        (5, "production", &["worker"]),
    ];
    for (n, env, services) in specs {
        ledger
            .create_run(new_run(&run_id(n), env, services))
            .await
            .unwrap();
        // Distinct creation times, so newest-first is by time, not by id alone.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let ids = |runs: Vec<forge_ledger::RunRecord>| -> Vec<u64> {
        runs.iter()
            .map(|r| (1..=5).find(|n| run_id(*n) == r.id).unwrap())
            .collect()
    };
    let all = ledger.runs(&RunFilter::default()).await.unwrap();
    assert_eq!(ids(all), [5, 4, 3, 2, 1]);
    let filter = |environment: Option<&str>, service: Option<&str>, limit| RunFilter {
        environment: environment.map(str::to_owned),
        service: service.map(str::to_owned),
        limit,
    };
    let staging = ledger
        .runs(&filter(Some("staging"), None, None))
        .await
        .unwrap();
    assert_eq!(ids(staging), [4, 3, 1]);
    let api = ledger.runs(&filter(None, Some("api"), None)).await.unwrap();
    assert_eq!(ids(api), [4, 2, 1]);
    let web_staging = ledger
        .runs(&filter(Some("staging"), Some("web"), Some(1)))
        .await
        .unwrap();
    assert_eq!(ids(web_staging), [4]);
    // A service name that is a prefix of another is not that service.
    let ap = ledger.runs(&filter(None, Some("ap"), None)).await.unwrap();
    assert!(ap.is_empty());
    let two = ledger.runs(&filter(None, None, Some(2))).await.unwrap();
    assert_eq!(ids(two), [5, 4]);
}

async fn duplicate_runs_and_unknown_releases_are_refused(store: Store) {
    let ledger = store.open().await;
    let run = run_id(1);
    ledger
        .create_run(new_run(&run, "staging", &["api"]))
        .await
        .unwrap();
    let err = ledger
        .create_run(new_run(&run, "production", &["api"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::RunExists(r) if *r == run),
        "{err:?}"
    );
    assert_eq!(
        ledger.run(&run).await.unwrap().unwrap().environment,
        "staging"
    );

    let missing = release("sha256:never-recorded").id();
    let mut new = new_run(&run_id(2), "staging", &["api"]);
    new.release = Some(missing.clone());
    let err = ledger.create_run(new).await.unwrap_err();
    assert!(
        matches!(&err, LedgerError::UnknownRelease(r) if *r == missing),
        "{err:?}"
    );
    assert_eq!(ledger.run(&run_id(2)).await.unwrap(), None);
}

async fn invalid_transitions_are_refused_and_change_nothing(store: Store) {
    let ledger = store.open().await;
    let (run, lease) = running(&ledger, 1).await;
    let key = StepKey::new("api", "staging", "pin");
    let step = |t| ledger.transition_step(&run, &key, t, None, None, &lease);

    // No outcome without an intent.
    let err = step(Transition::Succeed).await.unwrap_err();
    assert!(
        matches!(&err, LedgerError::InvalidTransition { reason, .. } if reason == "a pending step cannot Succeed"),
        "{err:?}"
    );
    assert!(ledger.steps(&run).await.unwrap().is_empty());

    step(Transition::Start).await.unwrap();
    let done = step(Transition::Succeed).await.unwrap();
    for t in [
        Transition::Start,
        Transition::Fail,
        Transition::Skip,
        Transition::Succeed,
    ] {
        let err = step(t).await.unwrap_err();
        assert!(
            matches!(err, LedgerError::InvalidTransition { .. }),
            "{t:?}: {err:?}"
        );
    }
    assert_eq!(ledger.steps(&run).await.unwrap(), vec![done]);

    let other = StepKey::new("api", "staging", "verify");
    ledger
        .transition_step(&run, &other, Transition::Skip, None, None, &lease)
        .await
        .unwrap();
    let err = ledger
        .transition_step(&run, &other, Transition::Start, None, None, &lease)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("step {other} of {run}: a skipped step cannot Start")
    );

    let err = ledger
        .transition_step(&run_id(42), &key, Transition::Start, None, None, &lease)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::WrongLease { .. }), "{err:?}");
}

async fn attempts_are_counted_and_outcomes_timed(store: Store) {
    let ledger = store.open().await;
    let (run, lease) = running(&ledger, 1).await;
    let key = StepKey::new("api", "staging", "rollout");
    let go = |t, error: Option<&str>| {
        ledger.transition_step(&run, &key, t, None, error.map(str::to_owned), &lease)
    };

    let first = go(Transition::Start, None).await.unwrap();
    assert_eq!((first.state, first.attempts), (StepState::Running, 1));
    assert!(first.started_at.is_some() && first.finished_at.is_none());

    let failed = go(Transition::Fail, Some("timed out")).await.unwrap();
    assert_eq!((failed.state, failed.attempts), (StepState::Failed, 1));
    assert!(failed.finished_at.is_some());
    assert_eq!(failed.error.as_deref(), Some("timed out"));

    let retry = go(Transition::Start, None).await.unwrap();
    assert_eq!((retry.state, retry.attempts), (StepState::Running, 2));
    assert!(retry.finished_at.is_none() && retry.error.is_none());
    assert!(retry.started_at >= first.started_at);

    // A crash leaves it running; the resumed run starts it once more.
    let resumed = go(Transition::Start, None).await.unwrap();
    assert_eq!(resumed.attempts, 3);
    let done = go(Transition::Succeed, None).await.unwrap();
    assert_eq!((done.state, done.attempts), (StepState::Succeeded, 3));
    assert!(done.finished_at >= done.started_at);
    assert_eq!(ledger.steps(&run).await.unwrap(), vec![done]);
}

async fn a_lease_of_another_run_or_scope_does_not_cover_a_write(store: Store) {
    let ledger = store.open().await;
    let (run, lease) = running(&ledger, 1).await;
    let web = StepKey::new("web", "staging", "pin");
    let err = ledger
        .transition_step(&run, &web, Transition::Start, None, None, &lease)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::WrongLease { scope, .. } if scope == "api/staging"),
        "{err:?}"
    );
    let other = run_id(2);
    ledger
        .create_run(new_run(&other, "staging", &["api"]))
        .await
        .unwrap();
    let err = ledger
        .set_run_state(&other, RunState::Cancelled, &lease)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::WrongLease { .. }), "{err:?}");
    assert_eq!(
        ledger.run(&other).await.unwrap().unwrap().state,
        RunState::Running
    );
    assert!(ledger.steps(&run).await.unwrap().is_empty());
}

async fn a_run_gets_its_release_once_it_is_built(store: Store) {
    let ledger = store.open().await;
    let (run, lease) = running(&ledger, 1).await;
    assert_eq!(ledger.run(&run).await.unwrap().unwrap().release, None);

    let unknown = release("sha256:not-recorded").id();
    let err = ledger
        .set_run_release(&run, &unknown, &lease)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::UnknownRelease(r) if *r == unknown),
        "{err:?}"
    );

    let id = ledger.put_release(&release("sha256:aa")).await.unwrap();
    ledger.set_run_release(&run, &id, &lease).await.unwrap();
    ledger.set_run_release(&run, &id, &lease).await.unwrap();
    assert_eq!(
        ledger.run(&run).await.unwrap().unwrap().release,
        Some(id.clone())
    );

    let other = ledger.put_release(&release("sha256:bb")).await.unwrap();
    let err = ledger
        .set_run_release(&run, &other, &lease)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("run {run} already ships release {id}")
    );
    assert_eq!(ledger.run(&run).await.unwrap().unwrap().release, Some(id));
}

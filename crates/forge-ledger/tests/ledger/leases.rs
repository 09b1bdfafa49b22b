//! Leases: one winner among concurrent acquirers (tasks and processes),
//! takeover of an expired lease, and the stale holder fenced on every write.

use std::sync::Arc;
use std::time::Duration;

use forge_core::release::{RunId, RunState, StepKey, StepState, Transition};
use forge_ledger::{Ledger, LedgerError, LedgerLocation};

use crate::support::{new_run, run_id, suite, Store, MINUTE};

suite!(
    two_tasks_contend_for_each_scope_and_exactly_one_wins,
    two_processes_contend_for_each_scope_and_exactly_one_wins,
    an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_on_every_write,
    a_released_lease_is_free_at_once_and_epochs_keep_growing,
    renewing_extends_the_lease,
);

const SCOPES: usize = 20;

/// What one contender got for one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Won { epoch: i64 },
    Held { owner: String, run: RunId },
}

async fn contend(ledger: &Ledger, scope: &str, run: &RunId, owner: &str) -> Outcome {
    match ledger
        .acquire_lease(scope, run, owner, MINUTE, 10_000)
        .await
    {
        Ok(lease) => Outcome::Won { epoch: lease.epoch },
        Err(LedgerError::Held { owner, run, until }) => {
            assert_eq!(until, 10_000 + 60_000, "the winner's expiry");
            Outcome::Held { owner, run }
        }
        Err(e) => panic!("{scope}: neither won nor held: {e}"),
    }
}

/// Each scope: exactly one winner (epoch 1), the other told who holds it.
fn assert_one_winner_each(a: &[Outcome], b: &[Outcome], runs: [&RunId; 2]) {
    assert_eq!((a.len(), b.len()), (SCOPES, SCOPES));
    let owners = ["owner-a", "owner-b"];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        match (x, y) {
            (Outcome::Won { epoch: 1 }, Outcome::Held { owner, run }) => {
                assert_eq!((owner.as_str(), run), (owners[0], runs[0]), "scope {i}")
            }
            (Outcome::Held { owner, run }, Outcome::Won { epoch: 1 }) => {
                assert_eq!((owner.as_str(), run), (owners[1], runs[1]), "scope {i}")
            }
            other => panic!("scope {i}: not exactly one winner: {other:?}"),
        }
    }
}

async fn two_tasks_contend_for_each_scope_and_exactly_one_wins(store: Store) {
    let (ra, rb) = (run_id(1), run_id(2));
    // Two handles, two pools: as two runners in one process would be.
    let (la, lb) = (store.open().await, store.open().await);
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let task = |ledger: Ledger, run: RunId, owner: &'static str| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..SCOPES {
                barrier.wait().await;
                outcomes.push(contend(&ledger, &format!("svc{i}/prod"), &run, owner).await);
            }
            outcomes
        })
    };
    let a = task(la, ra.clone(), "owner-a");
    let b = task(lb, rb.clone(), "owner-b");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_one_winner_each(&a, &b, [&ra, &rb]);
}

/// Set in a child process: it contends instead of running the test.
const CONTENDER_ENV: &str = "FORGE_LEDGER_TEST_CONTENDER";

async fn two_processes_contend_for_each_scope_and_exactly_one_wins(store: Store) {
    if let Ok(spec) = std::env::var(CONTENDER_ENV) {
        return contender(&spec).await;
    }
    // Migrated once here, so the children race for leases, not for the schema.
    store.open().await.close().await;
    let dir = tempfile::tempdir().unwrap();
    let start_at = forge_now() + 1_500;
    let test = format!(
        "leases::ledger_{}::two_processes_contend_for_each_scope_and_exactly_one_wins",
        store.kind()
    );
    let location = match store.location() {
        LedgerLocation::Sqlite(p) => p.display().to_string(),
        LedgerLocation::Postgres(url) => url.expose().to_owned(),
    };
    let spawn = |run: &RunId, owner: &str| {
        let out = dir.path().join(owner);
        let spec = [
            location.clone(),
            run.to_string(),
            owner.to_owned(),
            start_at.to_string(),
            out.display().to_string(),
        ]
        .join("\n");
        let child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([&test, "--exact", "--test-threads=1", "--nocapture"])
            .env(CONTENDER_ENV, spec)
            .output();
        (child, out)
    };
    let (ra, rb) = (run_id(1), run_id(2));
    let (a, out_a) = spawn(&ra, "owner-a");
    let (b, out_b) = spawn(&rb, "owner-b");
    let (a, b) = tokio::join!(a, b);
    for child in [a.unwrap(), b.unwrap()] {
        assert!(
            child.status.success(),
            "contender failed:\n{}\n{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
    }
    let read = |path: &std::path::Path| -> Vec<Outcome> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| match line.split(' ').collect::<Vec<_>>()[..] {
                ["won", epoch] => Outcome::Won {
                    epoch: epoch.parse().unwrap(),
                },
                ["held", owner, run] => Outcome::Held {
                    owner: owner.into(),
                    run: RunId::parse(run).unwrap(),
                },
                _ => panic!("contender wrote {line:?}"),
            })
            .collect()
    };
    assert_one_winner_each(&read(&out_a), &read(&out_b), [&ra, &rb]);
}

/// The child's part: open, wait for the common start, contend for every
/// scope, write one line per scope.
async fn contender(spec: &str) {
    let [location, run, owner, start_at, out] = spec.lines().collect::<Vec<_>>()[..] else {
        panic!("bad contender spec {spec:?}");
    };
    let ledger = Ledger::open(&location.parse().unwrap()).await.unwrap();
    let run = RunId::parse(run).unwrap();
    let wait = start_at.parse::<i64>().unwrap() - forge_now();
    assert!(wait > 0, "the contender started too late to race");
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    let mut lines = Vec::new();
    for i in 0..SCOPES {
        lines.push(
            match contend(&ledger, &format!("svc{i}/prod"), &run, owner).await {
                Outcome::Won { epoch } => format!("won {epoch}"),
                Outcome::Held { owner, run } => format!("held {owner} {run}"),
            },
        );
    }
    std::fs::write(out, lines.join("\n")).unwrap();
}

fn forge_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_on_every_write(store: Store) {
    let ledger = store.open().await;
    let (old_run, new_run_id) = (run_id(1), run_id(2));
    for id in [&old_run, &new_run_id] {
        ledger
            .create_run(new_run(id, "staging", &["api"]))
            .await
            .unwrap();
    }
    let key = StepKey::new("api", "staging", "pin");
    let ttl = Duration::from_secs(10);
    let old = ledger
        .acquire_lease("api/staging", &old_run, "host-a:1", ttl, 1_000)
        .await
        .unwrap();
    assert_eq!((old.epoch, old.expires_at), (1, 11_000));
    ledger
        .transition_step(&old_run, &key, Transition::Start, None, None, &old)
        .await
        .unwrap();

    // Still live: refused, naming who holds it and until when.
    let err = ledger
        .acquire_lease("api/staging", &new_run_id, "host-b:2", ttl, 10_999)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::Held { owner, run, until }
            if owner == "host-a:1" && *run == old_run && *until == 11_000),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("held by host-a:1 for {old_run} until 11000 (unix ms)")
    );

    // Expired (its holder stalled): taken over with the next epoch.
    let new = ledger
        .acquire_lease("api/staging", &new_run_id, "host-b:2", ttl, 11_000)
        .await
        .unwrap();
    assert_eq!((new.epoch, new.expires_at), (2, 21_000));
    let stored = ledger.lease("api/staging").await.unwrap().unwrap();
    assert_eq!((stored.owner.as_str(), stored.epoch), ("host-b:2", 2));

    // The old holder comes back: every write is refused.
    let fenced = |r: Result<_, LedgerError>| match r {
        Err(LedgerError::Fenced {
            scope,
            held,
            current,
        }) => {
            assert_eq!((scope.as_str(), held, current), ("api/staging", 1, Some(2)))
        }
        other => panic!("not fenced: {other:?}"),
    };
    fenced(
        ledger
            .transition_step(&old_run, &key, Transition::Succeed, None, None, &old)
            .await
            .map(drop),
    );
    fenced(
        ledger
            .set_run_state(&old_run, RunState::Succeeded, &old)
            .await,
    );
    fenced(ledger.renew_lease(&old, ttl, 12_000).await.map(drop));
    fenced(ledger.release_lease(&old).await);
    let err = ledger.release_lease(&old).await.unwrap_err();
    assert!(
        err.to_string().contains("a newer holder took it over"),
        "{err}"
    );

    // Nothing the stale holder tried stuck; the new holder writes.
    let steps = ledger.steps(&old_run).await.unwrap();
    assert_eq!(steps[0].state, StepState::Running);
    assert_eq!(
        ledger.run(&old_run).await.unwrap().unwrap().state,
        RunState::Running
    );
    assert_eq!(ledger.lease("api/staging").await.unwrap().unwrap().epoch, 2);
    ledger
        .set_run_state(&new_run_id, RunState::Succeeded, &new)
        .await
        .unwrap();

    // The same run taking its lease again fences its own older holder.
    let newer = ledger
        .acquire_lease("api/staging", &new_run_id, "host-c:3", ttl, 12_000)
        .await
        .unwrap();
    assert_eq!(newer.epoch, 3);
    let err = ledger
        .set_run_state(&new_run_id, RunState::Failed, &new)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::Fenced {
                held: 2,
                current: Some(3),
                ..
            }
        ),
        "{err:?}"
    );
}

async fn a_released_lease_is_free_at_once_and_epochs_keep_growing(store: Store) {
    let ledger = store.open().await;
    let (a, b) = (run_id(1), run_id(2));
    let first = ledger
        .acquire_lease("web/prod", &a, "host-a:1", MINUTE, 1_000)
        .await
        .unwrap();
    ledger.release_lease(&first).await.unwrap();
    // Long before the TTL would have ended.
    let second = ledger
        .acquire_lease("web/prod", &b, "host-b:2", MINUTE, 2_000)
        .await
        .unwrap();
    assert_eq!(second.epoch, 2, "a release must not reset the epoch");
    let err = ledger
        .acquire_lease("web/prod", &a, "host-a:1", MINUTE, 3_000)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Held { .. }), "{err:?}");
}

async fn renewing_extends_the_lease(store: Store) {
    let ledger = store.open().await;
    let (a, b) = (run_id(1), run_id(2));
    let lease = ledger
        .acquire_lease("api/prod", &a, "host-a:1", Duration::from_secs(10), 1_000)
        .await
        .unwrap();
    let renewed = ledger
        .renew_lease(&lease, Duration::from_secs(10), 9_000)
        .await
        .unwrap();
    assert_eq!((renewed.epoch, renewed.expires_at), (1, 19_000));
    // Past the first expiry, within the renewed one: still held.
    let err = ledger
        .acquire_lease("api/prod", &b, "host-b:2", MINUTE, 15_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::Held { until: 19_000, .. }),
        "{err:?}"
    );
}

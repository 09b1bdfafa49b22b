//! The audit log: the chain verifies, concurrent appenders get distinct
//! consecutive seqs, and rows edited or removed behind the ledger's back
//! are found.

use forge_ledger::LedgerError;
use serde_json::json;

use crate::support::{suite, Store};

suite!(
    the_audit_chain_verifies_and_an_edited_row_is_detected,
    concurrent_appenders_get_consecutive_seqs_in_one_chain,
);

async fn the_audit_chain_verifies_and_an_edited_row_is_detected(store: Store) {
    let ledger = store.open().await;
    ledger.verify_audit().await.unwrap();
    for i in 1..=5 {
        let (event, hash) = ledger
            .append_audit(
                "ci@runner",
                "step.succeeded",
                &format!("api/staging/step{i}"),
                json!({"state": "running", "nested": {"z": 1, "a": [1.5, null]}}),
                json!({"state": "succeeded"}),
                1_700_000_000_000 + i,
            )
            .await
            .unwrap();
        assert_eq!((event.seq, event.at), (i, 1_700_000_000_000 + i));
        assert_eq!(hash.len(), 64);
    }
    let log = ledger.audit().await.unwrap();
    assert_eq!(
        log.iter().map(|(e, _)| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(log[2].0.subject, "api/staging/step3");
    assert_eq!(log[0].0.before["nested"]["a"], json!([1.5, null]));
    ledger.verify_audit().await.unwrap();

    // Someone rewrites history with SQL: the edited event is named.
    store
        .raw("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
        .await;
    let err = ledger.verify_audit().await.unwrap_err();
    assert!(
        matches!(err, LedgerError::AuditBroken { seq: 3 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the audit log is broken at event 3: it was edited or removed"
    );
    store
        .raw("UPDATE audit SET actor = 'ci@runner' WHERE seq = 3")
        .await;
    ledger.verify_audit().await.unwrap();

    // An edit of the JSON, still valid JSON.
    store
        .raw(r#"UPDATE audit SET after = '{"state":"failed"}' WHERE seq = 2"#)
        .await;
    let err = ledger.verify_audit().await.unwrap_err();
    assert!(
        matches!(err, LedgerError::AuditBroken { seq: 2 }),
        "{err:?}"
    );
    store
        .raw(r#"UPDATE audit SET after = '{"state":"succeeded"}' WHERE seq = 2"#)
        .await;
    ledger.verify_audit().await.unwrap();

    // A removed event: the one after it no longer follows.
    store.raw("DELETE FROM audit WHERE seq = 4").await;
    let err = ledger.verify_audit().await.unwrap_err();
    assert!(
        matches!(err, LedgerError::AuditBroken { seq: 5 }),
        "{err:?}"
    );
}

async fn concurrent_appenders_get_consecutive_seqs_in_one_chain(store: Store) {
    const EACH: i64 = 25;
    let (a, b) = (store.open().await, store.open().await);
    let append = |ledger: forge_ledger::Ledger, actor: &'static str| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let (event, _) = ledger
                    .append_audit(
                        actor,
                        "run.started",
                        "run-x",
                        json!(null),
                        json!({"i": i}),
                        i,
                    )
                    .await
                    .unwrap();
                seqs.push(event.seq);
            }
            seqs
        })
    };
    let (ta, tb) = (append(a.clone(), "a"), append(b, "b"));
    let (mut sa, sb) = (ta.await.unwrap(), tb.await.unwrap());
    for s in [&sa, &sb] {
        assert!(s.windows(2).all(|w| w[0] < w[1]), "{s:?}");
    }
    sa.extend(sb);
    sa.sort();
    assert_eq!(sa, (1..=2 * EACH).collect::<Vec<_>>());
    let log = a.audit().await.unwrap();
    assert_eq!(log.len(), 2 * EACH as usize);
    a.verify_audit().await.unwrap();
}

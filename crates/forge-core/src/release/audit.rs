//! The audit log: append-only events, each hashing the one before, so an
//! edited or removed row breaks the chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One event, as written (the hashes are computed by [`chain`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Who: `FORGE_ACTOR`, the CI identity, or `user@host`.
    pub actor: String,
    /// What: `run.started`, `step.succeeded`, `release.recorded`, ...
    pub action: String,
    /// What it was done to: a run id, a step key, a release id.
    pub subject: String,
    #[serde(default)]
    pub before: serde_json::Value,
    #[serde(default)]
    pub after: serde_json::Value,
}

/// The hash of `event` chained to `previous` (the hex hash of the event
/// before it; empty for the first).
pub fn chain(previous: &str, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(event).expect("an event serialises"));
    hex::encode(h.finalize())
}

/// Checks a log (events in order with their stored hashes): the `seq` of the
/// first event whose hash does not follow, if any.
pub fn verify<'a>(log: impl IntoIterator<Item = (&'a AuditEvent, &'a str)>) -> Result<(), i64> {
    let mut previous = String::new();
    let mut expected_seq = None;
    for (event, hash) in log {
        if expected_seq.is_some_and(|s| s != event.seq) || chain(&previous, event) != hash {
            return Err(event.seq);
        }
        expected_seq = Some(event.seq + 1);
        previous = hash.to_owned();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at: 1_700_000_000_000 + seq,
            actor: "ci@runner".into(),
            action: action.into(),
            subject: "run-1".into(),
            before: serde_json::Value::Null,
            after: serde_json::json!({"state": action}),
        }
    }

    #[test]
    fn an_edited_or_missing_event_breaks_the_chain() {
        let events = [
            event(1, "run.started"),
            event(2, "step.running"),
            event(3, "run.succeeded"),
        ];
        let mut hashes = Vec::new();
        let mut prev = String::new();
        for e in &events {
            prev = chain(&prev, e);
            hashes.push(prev.clone());
        }
        let log = || events.iter().zip(hashes.iter().map(String::as_str));
        assert_eq!(verify(log()), Ok(()));
        let mut edited = events.clone();
        edited[1].actor = "someone-else".into();
        assert_eq!(
            verify(edited.iter().zip(hashes.iter().map(String::as_str))),
            Err(2)
        );
        let gap = [
            (&events[0], hashes[0].as_str()),
            (&events[2], hashes[2].as_str()),
        ];
        assert_eq!(verify(gap), Err(3));
    }
}

//! One writer per service × environment: leases with an expiry and an
//! epoch. The ledger applies [`decide`] inside a transaction; every write a
//! holder makes carries its epoch, and a write with an older epoch than the
//! lease's is refused (a stale holder that comes back is fenced).

use serde::{Deserialize, Serialize};

/// The lease on one scope (`service/environment`) as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub scope: String,
    pub run: String,
    /// `host:pid` of the holder.
    pub owner: String,
    /// Grows by one with every grant; writes carry it.
    pub epoch: i64,
    /// Unix milliseconds after which the lease may be taken over.
    pub expires_at: i64,
}

/// What a request for a lease gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Free, released, or already ours: hold it with this epoch.
    Grant { epoch: i64 },
    /// Another run holds it until `until` (unix millis).
    Held {
        owner: String,
        run: String,
        until: i64,
    },
}

/// Whether `run` may take the lease `current` at `now` (unix millis): a free
/// or expired lease (its holder died; `forge release resume` takes it over)
/// or one the run already holds is granted with the next epoch.
pub fn decide(current: Option<&LeaseRecord>, run: &str, now: i64) -> LeaseDecision {
    match current {
        None => LeaseDecision::Grant { epoch: 1 },
        Some(l) if l.run == run || l.expires_at <= now => {
            LeaseDecision::Grant { epoch: l.epoch + 1 }
        }
        Some(l) => LeaseDecision::Held {
            owner: l.owner.clone(),
            run: l.run.clone(),
            until: l.expires_at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(run: &str, expires_at: i64) -> LeaseRecord {
        LeaseRecord {
            scope: "api/staging".into(),
            run: run.into(),
            owner: "ci-1:42".into(),
            epoch: 3,
            expires_at,
        }
    }

    #[test]
    fn a_live_lease_of_another_run_is_refused_an_expired_one_is_taken_over() {
        assert_eq!(decide(None, "r1", 0), LeaseDecision::Grant { epoch: 1 });
        assert_eq!(
            decide(Some(&held("r0", 2_000)), "r1", 1_000),
            LeaseDecision::Held {
                owner: "ci-1:42".into(),
                run: "r0".into(),
                until: 2_000
            }
        );
        assert_eq!(
            decide(Some(&held("r0", 2_000)), "r1", 2_000),
            LeaseDecision::Grant { epoch: 4 }
        );
        assert_eq!(
            decide(Some(&held("r1", 2_000)), "r1", 1_000),
            LeaseDecision::Grant { epoch: 4 },
            "re-acquiring one's own lease fences any older holder of the same run"
        );
    }
}

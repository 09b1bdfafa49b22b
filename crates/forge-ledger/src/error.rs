//! What the ledger refuses, and why. Messages name the ledger by its
//! location as [`crate::LedgerLocation`] displays it (passwords redacted).

use forge_core::release::{ReleaseId, RunId, StepKey};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no place for the ledger: set FORGE_LEDGER, XDG_STATE_HOME or HOME")]
    NoLocation,
    #[error("`{0}` is not a ledger location (a file path, or a postgres:// URL)")]
    BadLocation(String),
    /// The reason is text already stripped of the URL's password.
    #[error("cannot open the ledger at {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("{location} is not a forge ledger: {reason}")]
    NotALedger { location: String, reason: String },
    #[error(
        "the ledger at {location} has schema version {found}; this forge knows up to {known}: upgrade forge"
    )]
    SchemaTooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("release {0} is already recorded with different content")]
    ReleaseConflict(ReleaseId),
    #[error("no release {0} in the ledger")]
    UnknownRelease(ReleaseId),
    #[error("run {0} is already recorded")]
    RunExists(RunId),
    #[error("run {run} already ships release {current}")]
    RunHasRelease { run: RunId, current: ReleaseId },
    #[error("no run {0} in the ledger")]
    UnknownRun(RunId),
    #[error("step {key} of {run}: {reason}")]
    InvalidTransition {
        run: RunId,
        key: StepKey,
        reason: String,
    },
    /// Another run holds the scope's lease until `until` (unix millis).
    #[error("held by {owner} for {run} until {until} (unix ms)")]
    Held {
        owner: String,
        run: RunId,
        until: i64,
    },
    /// A newer holder took the lease (or it is gone): this holder must stop.
    #[error(
        "fenced: the lease on {scope} is at epoch {}, this holder has epoch {held}: a newer holder took it over",
        current.map_or_else(|| "none (released and removed)".to_owned(), |e| e.to_string())
    )]
    Fenced {
        scope: String,
        held: i64,
        current: Option<i64>,
    },
    /// A write fenced by a lease that does not cover it.
    #[error("the lease on {scope} (held by {lease_run}) does not cover {what}")]
    WrongLease {
        scope: String,
        lease_run: RunId,
        what: String,
    },
    #[error("the audit log is broken at event {seq}: it was edited or removed")]
    AuditBroken { seq: i64 },
    #[error("the ledger holds a value this forge cannot read: {0}")]
    Corrupt(String),
    #[error("ledger query failed")]
    Database(#[from] sqlx::Error),
}

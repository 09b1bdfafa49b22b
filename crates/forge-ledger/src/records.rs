//! What the ledger gives back and takes in for runs and steps (releases,
//! leases and audit events use forge-core's types or their own modules').

use forge_core::release::{ReleaseId, RunId, RunState, StepKey, StepState};
use serde::Serialize;

use crate::db::Row;
use crate::error::LedgerError;

/// A run about to start: recorded as `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub id: RunId,
    /// The release it ships, when it ships one (a rollback may not).
    pub release: Option<ReleaseId>,
    /// What started it, e.g. `deploy` or `rollback`.
    pub command: String,
    pub environment: String,
    pub services: Vec<String>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: RunId,
    pub release: Option<ReleaseId>,
    pub command: String,
    pub environment: String,
    pub services: Vec<String>,
    pub state: RunState,
    pub actor: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which runs [`crate::Ledger::runs`] lists (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub environment: Option<String>,
    /// Runs that include this service.
    pub service: Option<String>,
    /// At most this many; all when `None`.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    pub run: RunId,
    pub key: StepKey,
    pub state: StepState,
    /// How many times the step was started.
    pub attempts: i64,
    /// Unix milliseconds of the latest start.
    pub started_at: Option<i64>,
    /// Unix milliseconds of the latest outcome.
    pub finished_at: Option<i64>,
    pub outputs: Option<serde_json::Value>,
    /// As the step reported it.
    pub error: Option<String>,
}

impl StepRecord {
    /// How long the latest attempt took, once it ended.
    pub fn seconds(&self) -> Option<f64> {
        match (self.started_at, self.finished_at) {
            (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
            _ => None,
        }
    }
}

/// The columns [`RunRecord::from_row`] reads.
pub(crate) const RUN_COLUMNS: &str =
    "id, release_id, command, environment, services, state, actor, created_at, updated_at";

/// The columns [`StepRecord::from_row`] reads.
pub(crate) const STEP_COLUMNS: &str =
    "run_id, key, state, attempts, started_at, finished_at, outputs, error";

impl RunRecord {
    pub(crate) fn from_row(row: &Row) -> Result<Self, LedgerError> {
        Ok(RunRecord {
            id: RunId::parse(&row.text("id")?).map_err(LedgerError::Corrupt)?,
            release: row
                .opt_text("release_id")?
                .map(|r| ReleaseId::parse(&r))
                .transpose()
                .map_err(LedgerError::Corrupt)?,
            command: row.text("command")?,
            environment: row.text("environment")?,
            services: json(&row.text("services")?, "a run's services")?,
            state: RunState::parse(&row.text("state")?).map_err(LedgerError::Corrupt)?,
            actor: row.text("actor")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
        })
    }
}

impl StepRecord {
    pub(crate) fn from_row(row: &Row) -> Result<Self, LedgerError> {
        Ok(StepRecord {
            run: RunId::parse(&row.text("run_id")?).map_err(LedgerError::Corrupt)?,
            key: StepKey::parse(&row.text("key")?).map_err(LedgerError::Corrupt)?,
            state: StepState::parse(&row.text("state")?).map_err(LedgerError::Corrupt)?,
            attempts: row.int("attempts")?,
            started_at: row.opt_int("started_at")?,
            finished_at: row.opt_int("finished_at")?,
            outputs: row
                .opt_text("outputs")?
                .map(|o| json(&o, "a step's outputs"))
                .transpose()?,
            error: row.opt_text("error")?,
        })
    }
}

/// Parses JSON the ledger stored; `what` names it if it does not parse.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, LedgerError> {
    serde_json::from_str(text).map_err(|e| LedgerError::Corrupt(format!("{what}: {e}")))
}

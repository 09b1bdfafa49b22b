//! Steps of a run, moved only by forge-core's state machine
//! ([`StepState::apply`]). A step the ledger has not seen yet is `pending`
//! with no attempts.
//!
//! - `Start` counts an attempt, sets `started_at`, and clears the previous
//!   attempt's outcome time and error (its outputs stay until replaced).
//! - `Succeed`, `Fail` and `Skip` set `finished_at`.
//! - Outputs and an error, when given, replace the stored ones.

use forge_core::release::{RunId, StepKey, StepState, Transition};

use crate::db::{Arg, Backend};
use crate::error::LedgerError;
use crate::leases::{check_fence, Lease};
use crate::ledger::{now_millis, Ledger};
use crate::records::{StepRecord, STEP_COLUMNS};

impl Ledger {
    /// The steps of `run` the ledger has seen, by key.
    pub async fn steps(&self, run: &RunId) -> Result<Vec<StepRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let rows = tx
            .all(
                &format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = $1 ORDER BY key"),
                &[Arg::Text(run.as_str())],
            )
            .await?;
        rows.iter().map(StepRecord::from_row).collect()
    }

    /// Applies `transition` to step `key` of `run`. `fence` must be the
    /// run's current lease on the step's `service/environment`.
    pub async fn transition_step(
        &self,
        run: &RunId,
        key: &StepKey,
        transition: Transition,
        outputs: Option<serde_json::Value>,
        error: Option<String>,
        fence: &Lease,
    ) -> Result<StepRecord, LedgerError> {
        let what = format!("step {key} of {run}");
        fence.must_cover_run(run, &what)?;
        if fence.scope != format!("{}/{}", key.service(), key.environment()) {
            return Err(LedgerError::WrongLease {
                scope: fence.scope.clone(),
                lease_run: fence.run.clone(),
                what,
            });
        }
        let now = now_millis();

        let mut tx = self.pool.write().await?;
        check_fence(&mut tx, fence).await?;
        let run_exists = tx
            .optional(
                "SELECT 1 AS found FROM runs WHERE id = $1",
                &[Arg::Text(run.as_str())],
            )
            .await?
            .is_some();
        if !run_exists {
            return Err(LedgerError::UnknownRun(run.clone()));
        }
        let select = match tx.backend() {
            Backend::Sqlite => {
                format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = $1 AND key = $2")
            }
            Backend::Postgres => {
                format!(
                    "SELECT {STEP_COLUMNS} FROM steps WHERE run_id = $1 AND key = $2 FOR UPDATE"
                )
            }
        };
        let stored = tx
            .optional(&select, &[Arg::Text(run.as_str()), Arg::Text(key.as_str())])
            .await?
            .as_ref()
            .map(StepRecord::from_row)
            .transpose()?;
        let mut step = stored.unwrap_or_else(|| StepRecord {
            run: run.clone(),
            key: key.clone(),
            state: StepState::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            outputs: None,
            error: None,
        });
        step.state =
            step.state
                .apply(transition)
                .map_err(|reason| LedgerError::InvalidTransition {
                    run: run.clone(),
                    key: key.clone(),
                    reason,
                })?;
        if transition == Transition::Start {
            step.attempts += 1;
            step.started_at = Some(now);
            step.finished_at = None;
            step.error = None;
        } else {
            step.finished_at = Some(now);
        }
        if outputs.is_some() {
            step.outputs = outputs;
        }
        if error.is_some() {
            step.error = error;
        }
        let outputs_text = step
            .outputs
            .as_ref()
            .map(|o| serde_json::to_string(o).expect("JSON serialises"));

        tx.execute(
            "INSERT INTO steps (run_id, key, state, attempts, started_at, finished_at, outputs, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (run_id, key) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             outputs = excluded.outputs, error = excluded.error",
            &[
                Arg::Text(run.as_str()),
                Arg::Text(key.as_str()),
                Arg::Text(step.state.as_str()),
                Arg::Int(step.attempts),
                Arg::OptInt(step.started_at),
                Arg::OptInt(step.finished_at),
                Arg::OptText(outputs_text.as_deref()),
                Arg::OptText(step.error.as_deref()),
            ],
        )
        .await?;
        tx.execute(
            "UPDATE runs SET updated_at = $1 WHERE id = $2",
            &[Arg::Int(now), Arg::Text(run.as_str())],
        )
        .await?;
        tx.commit().await?;
        Ok(step)
    }
}

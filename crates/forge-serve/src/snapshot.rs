//! What requests read instead of the cluster: a snapshot of the status
//! report, the ledger's counts and its recent runs, replaced whole by a
//! background task every interval. Requests take the current one (an `Arc`
//! clone under a lock held for no await) and never wait on a refresh.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use forge_core::status::StatusReport;
use forge_ledger::{Ledger, RunFilter, RunRecord, StepRecord, StepTiming};
use forge_steps::status::{gather, StatusRequest};

/// How many runs the dashboard shows.
pub const RECENT_RUNS: u32 = 20;

/// One refresh's view of the world.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `None` until the first refresh finished (`/readyz` says 503).
    pub status: Option<StatusReport>,
    pub runs_by_state: std::collections::BTreeMap<String, i64>,
    pub releases: i64,
    pub steps: Vec<StepTiming>,
    /// Newest first, with their steps.
    pub recent: Vec<(RunRecord, Vec<StepRecord>)>,
    /// Unix millis of the last refresh that finished, and how long it took.
    pub refreshed_at: Option<i64>,
    pub refresh_ms: u64,
    /// Why the last refresh failed (the snapshot before it is kept).
    pub last_error: Option<String>,
    pub refresh_errors: u64,
    /// `/metrics` and `/api/v1/status` as sent, rendered once per refresh
    /// so a request only copies bytes.
    pub metrics_text: bytes::Bytes,
    pub status_json: Option<bytes::Bytes>,
}

/// The current snapshot, shared by the refresher and the handlers.
#[derive(Debug, Clone, Default)]
pub struct SnapshotCell(Arc<RwLock<Arc<Snapshot>>>);

impl SnapshotCell {
    pub fn current(&self) -> Arc<Snapshot> {
        self.0
            .read()
            .expect("the snapshot lock is never poisoned")
            .clone()
    }

    fn replace(&self, next: Snapshot) {
        *self.0.write().expect("the snapshot lock is never poisoned") = Arc::new(next);
    }
}

/// Reads everything once; errors keep the previous snapshot's data.
pub async fn refresh(cell: &SnapshotCell, request: &StatusRequest, ledger: &Ledger) {
    let started = Instant::now();
    let previous = cell.current();
    let result = read_all(request, ledger).await;
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let next = match result {
        Ok(mut fresh) => {
            fresh.refreshed_at = fresh.status.as_ref().map(|s| s.generated_at);
            fresh.refresh_ms = took;
            fresh.refresh_errors = previous.refresh_errors;
            fresh
        }
        Err(e) => {
            let message = format!("{e:#}");
            tracing::warn!("status refresh failed: {message}");
            Snapshot {
                status: previous.status.clone(),
                runs_by_state: previous.runs_by_state.clone(),
                releases: previous.releases,
                steps: previous.steps.clone(),
                recent: previous.recent.clone(),
                refreshed_at: previous.refreshed_at,
                refresh_ms: took,
                last_error: Some(message),
                refresh_errors: previous.refresh_errors + 1,
                ..Snapshot::default()
            }
        }
    };
    let mut next = next;
    next.metrics_text = crate::metrics::render(&next).into();
    next.status_json = next
        .status
        .as_ref()
        .map(|r| serde_json::to_vec(r).expect("the report serialises").into());
    cell.replace(next);
}

async fn read_all(request: &StatusRequest, ledger: &Ledger) -> anyhow::Result<Snapshot> {
    let status = gather(request, ledger).await?;
    let runs = ledger
        .runs(&RunFilter {
            limit: Some(RECENT_RUNS),
            ..RunFilter::default()
        })
        .await?;
    let ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
    let mut steps = ledger.steps_of_runs(&ids).await?;
    let recent = runs
        .into_iter()
        .map(|r| {
            let s = steps.remove(&r.id).unwrap_or_default();
            (r, s)
        })
        .collect();
    Ok(Snapshot {
        status: Some(status),
        runs_by_state: ledger.run_counts().await?,
        releases: ledger.release_count().await?,
        steps: ledger.step_timings().await?,
        recent,
        ..Snapshot::default()
    })
}

/// Refreshes now, then every `interval` (measured from the end of the
/// previous refresh, so a slow cluster never stacks refreshes up).
pub fn spawn_refresher(
    cell: SnapshotCell,
    request: StatusRequest,
    ledger: Ledger,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            refresh(&cell, &request, &ledger).await;
            tokio::time::sleep(interval).await;
        }
    })
}

//! Read-only questions for status and the API: the newest run per service ×
//! environment, releases and the audit log by page, and the rows metrics
//! are counted from. Each is one read transaction; none writes.

use std::collections::BTreeMap;

use forge_core::release::audit::AuditEvent;
use forge_core::release::{Release, ReleaseId, RunId};

use crate::audit::event_from_row;
use crate::db::{Arg, Backend, Row};
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::records::{json, RunRecord, StepRecord, RUN_COLUMNS, STEP_COLUMNS};

/// The newest runs of one service in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRuns {
    pub service: String,
    pub environment: String,
    /// The newest run that included the service, whatever its state.
    pub last: RunRecord,
    /// The newest one that succeeded.
    pub last_succeeded: Option<RunRecord>,
}

/// A recorded release and when it was first recorded (unix millis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub id: ReleaseId,
    pub created_at: i64,
    pub release: Release,
}

/// Where a page of releases starts: after this one (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseCursor {
    pub created_at: i64,
    pub id: ReleaseId,
}

impl ReleaseCursor {
    /// `<created_at>.<id>`: opaque to clients, stable across pages.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a page cursor");
        let (at, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            created_at: at.parse().map_err(|_| bad())?,
            id: ReleaseId::parse(id).map_err(|_| bad())?,
        })
    }
}

/// A finished or running step, for metrics: its action, state and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTiming {
    pub service: String,
    pub environment: String,
    pub action: String,
    pub state: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Ledger {
    /// For every service × environment any run included: its newest run and
    /// its newest succeeded run (two queries, whatever the count).
    pub async fn latest_runs_by_target(&self) -> Result<Vec<TargetRuns>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let any = newest_per_target(self.pool.backend(), false);
        let ok = newest_per_target(self.pool.backend(), true);
        let last = tx.all(&any, &[]).await?;
        let succeeded = tx.all(&ok, &[]).await?;
        // A product run names its environments `staging,production`: it
        // counts for each, the newer run winning where several do.
        let newer = |a: &RunRecord, b: &RunRecord| (a.created_at, &a.id) > (b.created_at, &b.id);
        let mut by_target: BTreeMap<(String, String), TargetRuns> = BTreeMap::new();
        for row in &last {
            let (service, record) = (row.text("service")?, RunRecord::from_row(row)?);
            for env in record.environment.split(',') {
                let key = (service.clone(), env.to_owned());
                if by_target
                    .get(&key)
                    .is_some_and(|t| !newer(&record, &t.last))
                {
                    continue;
                }
                by_target.insert(
                    key,
                    TargetRuns {
                        service: service.clone(),
                        environment: env.to_owned(),
                        last: record.clone(),
                        last_succeeded: None,
                    },
                );
            }
        }
        for row in &succeeded {
            let (service, record) = (row.text("service")?, RunRecord::from_row(row)?);
            for env in record.environment.split(',') {
                if let Some(t) = by_target.get_mut(&(service.clone(), env.to_owned())) {
                    if t.last_succeeded.as_ref().is_none_or(|s| newer(&record, s)) {
                        t.last_succeeded = Some(record.clone());
                    }
                }
            }
        }
        Ok(by_target.into_values().collect())
    }

    /// The steps of each of `runs` (one query), by run.
    pub async fn steps_of_runs(
        &self,
        runs: &[RunId],
    ) -> Result<BTreeMap<RunId, Vec<StepRecord>>, LedgerError> {
        let mut out: BTreeMap<RunId, Vec<StepRecord>> = BTreeMap::new();
        if runs.is_empty() {
            return Ok(out);
        }
        let mut tx = self.pool.read().await?;
        // In chunks: SQLite allows 32766 parameters, PostgreSQL 65535.
        for chunk in runs.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let args: Vec<Arg> = chunk.iter().map(|r| Arg::Text(r.as_str())).collect();
            let sql = format!(
                "SELECT {STEP_COLUMNS} FROM steps WHERE run_id IN ({}) ORDER BY run_id, key",
                placeholders.join(", ")
            );
            for row in tx.all(&sql, &args).await? {
                let step = StepRecord::from_row(&row)?;
                out.entry(step.run.clone()).or_default().push(step);
            }
        }
        Ok(out)
    }

    /// Up to `limit` releases, newest first, after `cursor` when given.
    pub async fn releases_page(
        &self,
        limit: u32,
        cursor: Option<&ReleaseCursor>,
    ) -> Result<Vec<ReleaseRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let limit = i64::from(limit);
        let rows = match cursor {
            None => {
                tx.all(
                    "SELECT id, content, created_at FROM releases \
                     ORDER BY created_at DESC, id DESC LIMIT $1",
                    &[Arg::Int(limit)],
                )
                .await?
            }
            Some(c) => {
                tx.all(
                    "SELECT id, content, created_at FROM releases \
                     WHERE created_at < $1 OR (created_at = $1 AND id < $2) \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                    &[
                        Arg::Int(c.created_at),
                        Arg::Text(c.id.as_str()),
                        Arg::Int(limit),
                    ],
                )
                .await?
            }
        };
        rows.iter().map(release_from_row).collect()
    }

    /// The release with its recording time.
    pub async fn release_record(
        &self,
        id: &ReleaseId,
    ) -> Result<Option<ReleaseRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let row = tx
            .optional(
                "SELECT id, content, created_at FROM releases WHERE id = $1",
                &[Arg::Text(id.as_str())],
            )
            .await?;
        row.as_ref().map(release_from_row).transpose()
    }

    /// The runs that shipped `release`, newest first.
    pub async fn runs_of_release(
        &self,
        release: &ReleaseId,
    ) -> Result<Vec<RunRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let rows = tx
            .all(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE release_id = $1 \
                     ORDER BY created_at DESC, id DESC"
                ),
                &[Arg::Text(release.as_str())],
            )
            .await?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Up to `limit` audit events after sequence number `after_seq`, at or
    /// after `since` (unix millis) when given, in order, with their hashes.
    pub async fn audit_page(
        &self,
        after_seq: i64,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(AuditEvent, String)>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let rows = tx
            .all(
                "SELECT seq, at, actor, action, subject, before, after, hash FROM audit \
                 WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3",
                &[
                    Arg::Int(after_seq),
                    Arg::Int(since.unwrap_or(i64::MIN)),
                    Arg::Int(i64::from(limit)),
                ],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Runs counted by state (every state that occurs).
    pub async fn run_counts(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let rows = tx
            .all("SELECT state, COUNT(*) AS n FROM runs GROUP BY state", &[])
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("state")?, r.int("n")?)))
            .collect()
    }

    /// How many releases are recorded.
    pub async fn release_count(&self) -> Result<i64, LedgerError> {
        let mut tx = self.pool.read().await?;
        let row = tx
            .optional("SELECT COUNT(*) AS n FROM releases", &[])
            .await?
            .ok_or_else(|| LedgerError::Corrupt("COUNT gave no row".into()))?;
        Ok(row.int("n")?)
    }

    /// Every step's action, state and times (what step metrics count).
    pub async fn step_timings(&self) -> Result<Vec<StepTiming>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let rows = tx
            .all("SELECT key, state, started_at, finished_at FROM steps", &[])
            .await?;
        rows.iter()
            .map(|r| {
                let key = forge_core::release::StepKey::parse(&r.text("key")?)
                    .map_err(LedgerError::Corrupt)?;
                Ok(StepTiming {
                    service: key.service().to_owned(),
                    environment: key.environment().to_owned(),
                    action: key.action().to_owned(),
                    state: r.text("state")?,
                    started_at: r.opt_int("started_at")?,
                    finished_at: r.opt_int("finished_at")?,
                })
            })
            .collect()
    }
}

/// The newest run (succeeded ones only, with `succeeded`) per service (each
/// element of `runs.services`) and environment, with a `service` column.
fn newest_per_target(backend: Backend, succeeded: bool) -> String {
    let elements = match backend {
        Backend::Sqlite => "runs, json_each(runs.services) AS s",
        Backend::Postgres => "runs, jsonb_array_elements_text(runs.services::jsonb) AS s(value)",
    };
    let filter = if succeeded {
        "WHERE runs.state = 'succeeded'"
    } else {
        ""
    };
    let columns: Vec<String> = RUN_COLUMNS
        .split(", ")
        .map(|c| format!("runs.{c} AS {c}"))
        .collect();
    format!(
        "SELECT {RUN_COLUMNS}, service FROM (\
           SELECT {cols}, s.value AS service, ROW_NUMBER() OVER (\
             PARTITION BY s.value, runs.environment \
             ORDER BY runs.created_at DESC, runs.id DESC) AS nth \
           FROM {elements} {filter}\
         ) AS newest WHERE nth = 1",
        cols = columns.join(", ")
    )
}

fn release_from_row(row: &Row) -> Result<ReleaseRecord, LedgerError> {
    Ok(ReleaseRecord {
        id: ReleaseId::parse(&row.text("id")?).map_err(LedgerError::Corrupt)?,
        created_at: row.int("created_at")?,
        release: json(&row.text("content")?, "a release")?,
    })
}

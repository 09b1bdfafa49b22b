//! The [`Ledger`] handle: opening, releases and runs. Steps, leases and
//! the audit log add their methods in their own modules.

use forge_core::release::{Release, ReleaseId, RunId, RunState};

use crate::db::{self, Arg, Backend, Pool};
use crate::error::LedgerError;
use crate::leases::{check_fence, Lease};
use crate::location::LedgerLocation;
use crate::records::{json, NewRun, RunFilter, RunRecord, RUN_COLUMNS};
use crate::schema;

/// The durable record of releases, runs, steps, leases and the audit log.
/// Cheap to clone (a connection pool); every method is one transaction.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub(crate) pool: Pool,
    pub(crate) location: LedgerLocation,
}

impl Ledger {
    /// Opens (creating the file and its directory, or the tables) and
    /// migrates the ledger at `location`.
    pub async fn open(location: &LedgerLocation) -> Result<Ledger, LedgerError> {
        let pool = Pool::connect(location).await?;
        if let Err(e) = schema::prepare(&pool, location).await {
            pool.close().await;
            return Err(match e {
                LedgerError::Database(e) => LedgerError::Open {
                    location: location.display(),
                    reason: db::describe(location, &e),
                },
                other => other,
            });
        }
        Ok(Ledger {
            pool,
            location: location.clone(),
        })
    }

    pub fn location(&self) -> &LedgerLocation {
        &self.location
    }

    /// Closes the connections (waiting for transactions in flight).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Records `release` under its id; recording it again is a no-op, but
    /// different content under the same id is refused.
    pub async fn put_release(&self, release: &Release) -> Result<ReleaseId, LedgerError> {
        let id = release.id();
        let content = serde_json::to_string(release).expect("a release serialises");
        let mut tx = self.pool.write().await?;
        // Insert-or-keep, then compare: concurrent recorders of one release
        // both succeed, and neither can overwrite the other.
        tx.execute(
            "INSERT INTO releases (id, content, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
            &[
                Arg::Text(id.as_str()),
                Arg::Text(&content),
                Arg::Int(now_millis()),
            ],
        )
        .await?;
        let row = tx
            .optional(
                "SELECT content FROM releases WHERE id = $1",
                &[Arg::Text(id.as_str())],
            )
            .await?
            .ok_or_else(|| LedgerError::Corrupt(format!("release {id} vanished")))?;
        let stored: Release = json(&row.text("content")?, "a release")?;
        if stored != *release {
            return Err(LedgerError::ReleaseConflict(id));
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn release(&self, id: &ReleaseId) -> Result<Option<Release>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let row = tx
            .optional(
                "SELECT content FROM releases WHERE id = $1",
                &[Arg::Text(id.as_str())],
            )
            .await?;
        row.map(|r| json(&r.text("content")?, "a release"))
            .transpose()
    }

    /// Records a new run, `running`.
    pub async fn create_run(&self, run: NewRun) -> Result<RunRecord, LedgerError> {
        let now = now_millis();
        let services = serde_json::to_string(&run.services).expect("strings serialise");
        let mut tx = self.pool.write().await?;
        let inserted = tx
            .execute(
                "INSERT INTO runs (id, release_id, command, environment, services, state, actor, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                &[
                    Arg::Text(run.id.as_str()),
                    Arg::OptText(run.release.as_ref().map(ReleaseId::as_str)),
                    Arg::Text(&run.command),
                    Arg::Text(&run.environment),
                    Arg::Text(&services),
                    Arg::Text(RunState::Running.as_str()),
                    Arg::Text(&run.actor),
                    Arg::Int(now),
                ],
            )
            .await;
        match inserted {
            Err(e) if db::is_unique_violation(&e) => return Err(LedgerError::RunExists(run.id)),
            Err(e) if db::is_foreign_key_violation(&e) => {
                return Err(LedgerError::UnknownRelease(
                    run.release.expect("only a release can be missing"),
                ))
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(RunRecord {
            id: run.id,
            release: run.release,
            command: run.command,
            environment: run.environment,
            services: run.services,
            state: RunState::Running,
            actor: run.actor,
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn run(&self, id: &RunId) -> Result<Option<RunRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        let row = tx
            .optional(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                &[Arg::Text(id.as_str())],
            )
            .await?;
        row.as_ref().map(RunRecord::from_row).transpose()
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, LedgerError> {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(env) = &filter.environment {
            args.push(Arg::Text(env));
            // A product run's environment is the list `staging,production`.
            let n = args.len();
            conditions.push(format!(
                "(environment = ${n} OR (',' || environment || ',') LIKE ('%,' || ${n} || ',%'))"
            ));
        }
        if let Some(service) = &filter.service {
            args.push(Arg::Text(service));
            let n = args.len();
            conditions.push(match self.pool.backend() {
                Backend::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM json_each(runs.services) WHERE json_each.value = ${n})"
                ),
                Backend::Postgres => {
                    format!("runs.services::jsonb @> jsonb_build_array(${n}::text)")
                }
            });
        }
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs");
        if !conditions.is_empty() {
            sql = format!("{sql} WHERE {}", conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = filter.limit {
            args.push(Arg::Int(i64::from(limit)));
            sql = format!("{sql} LIMIT ${}", args.len());
        }
        let mut tx = self.pool.read().await?;
        let rows = tx.all(&sql, &args).await?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Sets the run's state; `fence` must be a current lease of this run.
    pub async fn set_run_state(
        &self,
        id: &RunId,
        state: RunState,
        fence: &Lease,
    ) -> Result<(), LedgerError> {
        fence.must_cover_run(id, &format!("run {id}"))?;
        let mut tx = self.pool.write().await?;
        check_fence(&mut tx, fence).await?;
        let updated = tx
            .execute(
                "UPDATE runs SET state = $1, updated_at = $2 WHERE id = $3",
                &[
                    Arg::Text(state.as_str()),
                    Arg::Int(now_millis()),
                    Arg::Text(id.as_str()),
                ],
            )
            .await?;
        if updated == 0 {
            return Err(LedgerError::UnknownRun(id.clone()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records which release run `id` ships, once it is known (a run builds
    /// before it has one). Setting the same release again is a no-op;
    /// another one is refused: a run ships one release.
    pub async fn set_run_release(
        &self,
        id: &RunId,
        release: &ReleaseId,
        fence: &Lease,
    ) -> Result<(), LedgerError> {
        fence.must_cover_run(id, &format!("run {id}"))?;
        let mut tx = self.pool.write().await?;
        check_fence(&mut tx, fence).await?;
        let row = tx
            .optional(
                "SELECT release_id FROM runs WHERE id = $1",
                &[Arg::Text(id.as_str())],
            )
            .await?
            .ok_or_else(|| LedgerError::UnknownRun(id.clone()))?;
        match row.opt_text("release_id")? {
            Some(current) if current == release.as_str() => return Ok(()),
            Some(current) => {
                return Err(LedgerError::RunHasRelease {
                    run: id.clone(),
                    current: ReleaseId::parse(&current).map_err(LedgerError::Corrupt)?,
                })
            }
            None => {}
        }
        let updated = tx
            .execute(
                "UPDATE runs SET release_id = $1, updated_at = $2 WHERE id = $3",
                &[
                    Arg::Text(release.as_str()),
                    Arg::Int(now_millis()),
                    Arg::Text(id.as_str()),
                ],
            )
            .await;
        match updated {
            Err(e) if db::is_foreign_key_violation(&e) => {
                return Err(LedgerError::UnknownRelease(release.clone()))
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(())
    }
}

/// The system clock in unix milliseconds, for times nothing decides on.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

//! Opening a ledger for reading only (`forge serve`, `forge status`):
//! nothing is created or migrated, and the connections cannot write. On
//! SQLite the file is opened read-only (in WAL mode readers never block the
//! writer, nor it them); on PostgreSQL every transaction of the session is
//! read-only (a read-only role works too).

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::db::Pool;
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::location::LedgerLocation;
use crate::schema::SCHEMA_VERSION;

const POOL_SIZE: u32 = 4;
const WAIT: Duration = Duration::from_secs(15);

impl Ledger {
    /// Opens the existing ledger at `location` read-only. A ledger that is
    /// missing, of another schema version or not a ledger is refused.
    pub async fn open_read_only(location: &LedgerLocation) -> Result<Ledger, LedgerError> {
        let open_error = |reason: String| LedgerError::Open {
            location: location.display(),
            reason,
        };
        let pool = match location {
            LedgerLocation::Sqlite(path) => {
                if !path.exists() {
                    return Err(open_error(
                        "no ledger there yet (a release run creates it)".into(),
                    ));
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .busy_timeout(WAIT);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(WAIT)
                        .connect_lazy_with(options),
                )
            }
            LedgerLocation::Postgres(url) => {
                let options = PgConnectOptions::from_str(url.expose())
                    .map_err(|e| open_error(location.scrub(&e.to_string())))?
                    .application_name("forge-reader")
                    .options([("default_transaction_read_only", "on")]);
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(WAIT)
                        .connect_lazy_with(options),
                )
            }
        };
        let ledger = Ledger {
            pool,
            location: location.clone(),
        };
        if let Err(e) = ledger.check_version().await {
            ledger.close().await;
            return Err(e);
        }
        Ok(ledger)
    }

    async fn check_version(&self) -> Result<(), LedgerError> {
        let location = &self.location;
        let mut tx = tokio::time::timeout(WAIT, self.pool.read())
            .await
            .map_err(|_| LedgerError::Open {
                location: location.display(),
                reason: format!("no answer within {} s", WAIT.as_secs()),
            })?
            .map_err(|e| LedgerError::Open {
                location: location.display(),
                reason: crate::db::describe(location, &e),
            })?;
        let rows = tx
            .all("SELECT schema_version FROM forge_ledger", &[])
            .await
            .map_err(|e| LedgerError::NotALedger {
                location: location.display(),
                reason: crate::db::describe(location, &e),
            })?;
        let found = match rows.as_slice() {
            [row] => row.int("schema_version")?,
            _ => {
                return Err(LedgerError::NotALedger {
                    location: location.display(),
                    reason: format!("{} schema versions recorded instead of one", rows.len()),
                })
            }
        };
        if found > SCHEMA_VERSION {
            return Err(LedgerError::SchemaTooNew {
                location: location.display(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found < SCHEMA_VERSION {
            return Err(LedgerError::Open {
                location: location.display(),
                reason: format!(
                    "its schema version is {found}, this forge reads {SCHEMA_VERSION}: a release run (which writes) migrates it"
                ),
            });
        }
        Ok(())
    }
}

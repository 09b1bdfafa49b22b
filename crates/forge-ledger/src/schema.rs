//! The ledger's schema: migrations embedded per backend, and the version
//! this binary knows. Opening brings an older ledger up to date, refuses a
//! newer one (never a silent downgrade) and refuses a database that holds
//! something else.

use crate::db::{Arg, Backend, Pool, Tx};
use crate::error::LedgerError;
use crate::location::LedgerLocation;

struct Migration {
    sqlite: &'static str,
    postgres: &'static str,
}

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: &[Migration] = &[Migration {
    sqlite: include_str!("../migrations/sqlite/0001_initial.sql"),
    postgres: include_str!("../migrations/postgres/0001_initial.sql"),
}];

/// The newest schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The table that marks a database as a ledger and holds its version.
const MARKER_TABLE: &str = "forge_ledger";

/// Advisory lock keys (PostgreSQL): this namespace, then the purpose.
pub(crate) const LOCK_NAMESPACE: i32 = 0x666f_7267; // "forg"
const LOCK_SCHEMA: i32 = 0;

/// Checks what `pool` holds and migrates it to [`SCHEMA_VERSION`], in one
/// transaction that concurrent openers wait for.
pub(crate) async fn prepare(pool: &Pool, location: &LedgerLocation) -> Result<(), LedgerError> {
    let mut tx = pool.write().await?;
    if tx.backend() == Backend::Postgres {
        tx.execute(
            &format!("SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, {LOCK_SCHEMA})"),
            &[],
        )
        .await?;
    }
    let tables = tables(&mut tx).await?;
    let found = if tables.iter().any(|t| t == MARKER_TABLE) {
        stored_version(&mut tx, location).await?
    } else if tables.is_empty() {
        0
    } else {
        let mut shown: Vec<&str> = tables.iter().map(String::as_str).take(5).collect();
        if tables.len() > shown.len() {
            shown.push("…");
        }
        return Err(LedgerError::NotALedger {
            location: location.display(),
            reason: format!(
                "it holds other tables ({}) and no {MARKER_TABLE} table",
                shown.join(", ")
            ),
        });
    };
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            location: location.display(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(LedgerError::NotALedger {
            location: location.display(),
            reason: format!("its schema version is {found}"),
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for migration in &MIGRATIONS[found as usize..] {
        let sql = match tx.backend() {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        tx.script(sql).await?;
    }
    tx.execute(&format!("DELETE FROM {MARKER_TABLE}"), &[])
        .await?;
    tx.execute(
        &format!("INSERT INTO {MARKER_TABLE} (schema_version) VALUES ($1)"),
        &[Arg::Int(SCHEMA_VERSION)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tables of the database (PostgreSQL: of the current schema).
async fn tables(tx: &mut Tx) -> Result<Vec<String>, LedgerError> {
    let sql = match tx.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT tablename::text AS name FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename"
        }
    };
    tx.all(sql, &[])
        .await?
        .iter()
        .map(|r| r.text("name").map_err(LedgerError::from))
        .collect()
}

async fn stored_version(tx: &mut Tx, location: &LedgerLocation) -> Result<i64, LedgerError> {
    let rows = tx
        .all(&format!("SELECT schema_version FROM {MARKER_TABLE}"), &[])
        .await?;
    match rows.as_slice() {
        [row] => Ok(row.int("schema_version")?),
        _ => Err(LedgerError::NotALedger {
            location: location.display(),
            reason: format!(
                "its {MARKER_TABLE} table has {} rows instead of one schema version",
                rows.len()
            ),
        }),
    }
}

//! One small SQL surface over both backends, so every ledger operation is
//! written once: transactions, queries with `$n` parameters (SQLite accepts
//! them too), and rows read by column name. Values are 64-bit integers and
//! text only (JSON is stored as text; see the migrations).
//!
//! Connecting is here as well: SQLite in WAL mode with a busy timeout and
//! foreign keys on; PostgreSQL with a first connection made by hand, so a
//! refused password or port is reported as such (the pool would retry until
//! its timeout and say only that it timed out).

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection as _, Postgres, Row as _, Sqlite, Transaction};

use crate::error::LedgerError;
use crate::location::LedgerLocation;

/// How long a writer waits for another one (SQLite's lock, PostgreSQL's
/// pool) before giving up.
const WAIT_FOR_WRITER: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const POOL_SIZE: u32 = 4;

/// SQLite's result code for a file that is not a database.
const SQLITE_NOTADB: &str = "26";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
}

pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// `sqlx::query(sql)` with `args` bound, for whichever backend the arm is.
macro_rules! bound {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for arg in $args {
            q = match *arg {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
            };
        }
        q
    }};
}

impl Pool {
    pub(crate) async fn connect(location: &LedgerLocation) -> Result<Pool, LedgerError> {
        match location {
            LedgerLocation::Sqlite(path) => connect_sqlite(location, path).await,
            LedgerLocation::Postgres(url) => connect_postgres(location, url.expose()).await,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN` (waiting up to the busy timeout): a transaction that read
    /// first and upgraded later could fail at once instead of waiting.
    pub(crate) async fn write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that only reads (one consistent snapshot on SQLite).
    pub(crate) async fn read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Rows affected.
    pub(crate) async fn execute<'a>(
        &mut self,
        sql: &'a str,
        args: &[Arg<'a>],
    ) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bound!(sql, args).execute(&mut **tx).await?.rows_affected(),
            Tx::Postgres(tx) => bound!(sql, args).execute(&mut **tx).await?.rows_affected(),
        })
    }

    pub(crate) async fn optional<'a>(
        &mut self,
        sql: &'a str,
        args: &[Arg<'a>],
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bound!(sql, args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Sqlite),
            Tx::Postgres(tx) => bound!(sql, args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Postgres),
        })
    }

    pub(crate) async fn all<'a>(
        &mut self,
        sql: &'a str,
        args: &[Arg<'a>],
    ) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bound!(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Tx::Postgres(tx) => bound!(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// Several statements without parameters (migrations).
    pub(crate) async fn script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(|_| ()),
            Tx::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(|_| ()),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

impl Row {
    pub(crate) fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Postgres(r) => r.try_get(column),
        }
    }

    pub(crate) fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Postgres(r) => r.try_get(column),
        }
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Postgres(r) => r.try_get(column),
        }
    }

    pub(crate) fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Postgres(r) => r.try_get(column),
        }
    }
}

/// Whether `e` is the database refusing a duplicate key.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// `e` and its causes on one line, stripped of the location's password.
pub(crate) fn describe(location: &LedgerLocation, e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    location.scrub(&text)
}

fn open_error(location: &LedgerLocation, e: &(dyn std::error::Error + 'static)) -> LedgerError {
    LedgerError::Open {
        location: location.display(),
        reason: describe(location, e),
    }
}

async fn connect_sqlite(location: &LedgerLocation, path: &Path) -> Result<Pool, LedgerError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| open_error(location, &e))?;
    }
    refuse_non_sqlite(location, path)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Every commit reaches the disk: a step's intent must survive a
        // power cut before its side effect happens.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(WAIT_FOR_WRITER)
        .foreign_keys(true);
    // One connection first: its error names the problem (not a database,
    // no permission) where the pool would only time out.
    let first = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some(SQLITE_NOTADB) => {
                LedgerError::NotALedger {
                    location: location.display(),
                    reason: "the file is not an SQLite database".into(),
                }
            }
            _ => open_error(location, &e),
        })?;
    let _ = first.close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(WAIT_FOR_WRITER)
        .connect_lazy_with(options);
    Ok(Pool::Sqlite(pool))
}

/// A non-empty file that lacks SQLite's header is something else: say so
/// before SQLite is asked to open (and journal next to) it.
fn refuse_non_sqlite(location: &LedgerLocation, path: &Path) -> Result<(), LedgerError> {
    use std::io::Read as _;
    const HEADER: &[u8; 16] = b"SQLite format 3\0";
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(open_error(location, &e)),
    };
    let mut head = Vec::with_capacity(16);
    (&mut file)
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| open_error(location, &e))?;
    if head.is_empty() || head == HEADER {
        return Ok(());
    }
    Err(LedgerError::NotALedger {
        location: location.display(),
        reason: "the file is not an SQLite database".into(),
    })
}

async fn connect_postgres(location: &LedgerLocation, url: &str) -> Result<Pool, LedgerError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| open_error(location, &e))?
        .application_name("forge");
    let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| LedgerError::Open {
            location: location.display(),
            reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        })?
        .map_err(|e| open_error(location, &e))?;
    let _ = first.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(WAIT_FOR_WRITER)
        .connect_lazy_with(options);
    Ok(Pool::Postgres(pool))
}

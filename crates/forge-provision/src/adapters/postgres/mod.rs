//! PostgreSQL: connect (with a bounded wait for a starting server), read the
//! catalogs into [`ClusterState`](crate::domain::catalog::ClusterState), and
//! run a [`Plan`](crate::domain::plan::Plan); every round trip is bounded
//! (`session.rs`).

mod catalog_read;
mod connect;
mod execute;
mod libpq_env;
mod session;
mod tls;

pub use connect::{Connection, Settings};
pub use libpq_env::LibpqEnv;
pub use session::NoAnswer;

use std::time::Duration;

/// Failures talking to PostgreSQL. Messages never hold a password or verifier.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// Neither `connection:` nor `DATABASE_URL`.
    #[error("no connection settings: add `connection:` to the spec, or set DATABASE_URL or the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE)")]
    NoSettings,
    /// A setting that cannot be used.
    #[error("invalid connection settings: {0}")]
    Settings(String),
    /// TLS could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The server did not accept connections within the wait bound.
    #[error("PostgreSQL at {target} did not accept a connection within {waited:?} ({attempts} attempts): {reason}")]
    Unreachable {
        target: String,
        waited: Duration,
        attempts: u32,
        /// The last attempt's failure, password redacted.
        reason: String,
    },
    /// The server refused the connection (authentication, unknown database, ...).
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect {
        target: String,
        /// The server's SQLSTATE and message, password redacted.
        reason: String,
    },
    /// The server stopped answering in the middle of the run.
    #[error("{during}: {source}")]
    NoAnswer {
        during: String,
        #[source]
        source: NoAnswer,
    },
    /// A catalog read failed.
    #[error("reading {what} failed: {source}{}", hint(source))]
    Read {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A change failed; the transaction it was in was rolled back.
    #[error("{phase}: {statement}\n  failed: {message}{}", if *rolled_back { "\n  (this phase was rolled back; earlier phases stay applied, and the next run finishes the rest)" } else { "" })]
    Apply {
        phase: String,
        statement: String,
        message: String,
        rolled_back: bool,
    },
}

fn hint(e: &tokio_postgres::Error) -> &'static str {
    match e.as_db_error() {
        Some(db) if db.message().contains("pg_authid") => {
            "\n  hint: forge-provision reads pg_authid to compare passwords; connect as a superuser"
        }
        _ => "",
    }
}

/// The message of a tokio-postgres error, with the server's detail and hint.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    describe_db(e, false)
}

/// As [`describe`], with the SQLSTATE after the severity (`FATAL 28P01: ...`),
/// and for other errors their cause (`error connecting to server: Connection refused`).
pub(crate) fn describe_with_sqlstate(e: &tokio_postgres::Error) -> String {
    describe_db(e, true)
}

fn describe_db(e: &tokio_postgres::Error, sqlstate: bool) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = if sqlstate {
                format!("{} {}: {}", db.severity(), db.code().code(), db.message())
            } else {
                format!("{}: {}", db.severity(), db.message())
            };
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (detail: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        // Every cause (an I/O error under a TLS error under "error connecting").
        None if sqlstate => {
            let mut s = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !s.ends_with(&text) {
                    s.push_str(&format!(": {text}"));
                }
                cause = c.source();
            }
            s
        }
        None => e.to_string(),
    }
}

pub use catalog_read::read_state;
pub use execute::execute;

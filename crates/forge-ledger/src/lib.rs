//! The ledger: the durable record of releases, runs, steps, leases and the
//! audit log, in an embedded SQLite file (the default) or in PostgreSQL
//! (shared by several machines), behind one [`Ledger`] type. The rules
//! (release ids, the step state machine, lease decisions, the audit chain)
//! are forge-core's; this crate stores them and applies them in transactions.
//!
//! - [`location`]: [`LedgerLocation`]: a path or a `postgres://` URL, and the default.
//! - [`ledger`]: [`Ledger::open`], releases and runs.
//! - [`steps`]: step transitions through the state machine.
//! - [`leases`]: [`Lease`]s, fencing of stale holders.
//! - [`audit`]: the hash-chained audit log.
//! - [`queries`]: read-only questions for status and the API (newest runs, pages, metrics).
//! - `read_only`: [`Ledger::open_read_only`], for readers (serve, status).
//! - [`records`]: run and step records, the run filter.
//! - [`schema`]: embedded migrations and [`SCHEMA_VERSION`].
//! - [`actor`]: who acts ([`actor_from_env`]) and who holds a lease.
//! - [`error`]: the one error type, [`LedgerError`].
//! - `db`: one SQL surface over both backends, and connecting.

pub mod actor;
pub mod audit;
mod db;
pub mod error;
pub mod leases;
pub mod ledger;
pub mod location;
pub mod queries;
mod read_only;
pub mod records;
pub mod schema;
pub mod steps;

pub use actor::{actor_from_env, lease_owner};
pub use error::LedgerError;
pub use leases::Lease;
pub use ledger::Ledger;
pub use location::LedgerLocation;
pub use queries::{ReleaseCursor, ReleaseRecord, StepTiming, TargetRuns};
pub use records::{NewRun, RunFilter, RunRecord, StepRecord};
pub use schema::SCHEMA_VERSION;

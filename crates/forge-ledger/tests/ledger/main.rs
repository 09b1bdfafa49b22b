//! The ledger against both backends: each suite test runs on an SQLite file
//! and on a real PostgreSQL (see `support::suite!`).

mod audit;
mod leases;
mod queries;
mod runs;
mod schema;
mod support;

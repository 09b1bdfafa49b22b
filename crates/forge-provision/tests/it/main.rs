//! Integration tests: the `forge-provision` binary against real PostgreSQL
//! clusters started by `testenv` (no mocks). Needs PostgreSQL server binaries
//! (`apt-get install postgresql`); see provision/README.md.

mod attic;
mod cli;
mod postgres_apply;
mod postgres_cdc;
mod postgres_connect_errors;
mod postgres_extensions;
mod postgres_hostile;
mod postgres_prune;
mod postgres_prune_owned;
mod postgres_secrets;
mod postgres_unresponsive;
mod silent_server;
mod testenv;

//! Leases: one writer per scope (`service/environment`), decided by
//! forge-core's [`decide`] inside one transaction. Every write a holder makes
//! passes its [`Lease`] as a fence: the write and the check that the stored
//! epoch is still the holder's happen in one transaction, so a stale holder
//! that comes back after a takeover cannot write.
//!
//! A released lease keeps its row (expired at once) so that epochs only
//! grow: were the row removed, the next holder would get epoch 1 again and
//! an old holder of epoch 1 could write.

use std::time::Duration;

use forge_core::release::lease::{decide, LeaseDecision, LeaseRecord};
use forge_core::release::RunId;
use serde::Serialize;

use crate::db::{Arg, Backend, Row, Tx};
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::schema::LOCK_NAMESPACE;

/// A granted lease: carry it to every write on its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub scope: String,
    pub run: RunId,
    pub epoch: i64,
    /// Unix milliseconds after which another run may take the scope over.
    pub expires_at: i64,
}

impl Lease {
    /// Refuses a lease of another run as the fence of a write to run `run`.
    pub(crate) fn must_cover_run(&self, run: &RunId, what: &str) -> Result<(), LedgerError> {
        if self.run == *run {
            Ok(())
        } else {
            Err(LedgerError::WrongLease {
                scope: self.scope.clone(),
                lease_run: self.run.clone(),
                what: what.to_owned(),
            })
        }
    }
}

/// Fails with [`LedgerError::Fenced`] unless the lease on `fence.scope` is
/// still at `fence.epoch`. On PostgreSQL the row stays share-locked until the
/// transaction ends, so a takeover waits for the write that checked it.
pub(crate) async fn check_fence(tx: &mut Tx, fence: &Lease) -> Result<(), LedgerError> {
    let sql = match tx.backend() {
        Backend::Sqlite => "SELECT epoch FROM leases WHERE scope = $1",
        Backend::Postgres => "SELECT epoch FROM leases WHERE scope = $1 FOR SHARE",
    };
    let current = tx
        .optional(sql, &[Arg::Text(&fence.scope)])
        .await?
        .map(|r| r.int("epoch"))
        .transpose()?;
    if current == Some(fence.epoch) {
        Ok(())
    } else {
        Err(LedgerError::Fenced {
            scope: fence.scope.clone(),
            held: fence.epoch,
            current,
        })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Ledger {
    /// Takes the lease on `scope` for `run` until `now + ttl`: granted when
    /// free, expired or already this run's (with the next epoch, which
    /// fences every older holder), else [`LedgerError::Held`].
    pub async fn acquire_lease(
        &self,
        scope: &str,
        run: &RunId,
        owner: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<Lease, LedgerError> {
        let mut tx = self.pool.write().await?;
        if tx.backend() == Backend::Postgres {
            // Two acquirers of a scope nobody holds yet both see no row: the
            // lock orders them (SQLite's BEGIN IMMEDIATE already does).
            tx.execute(
                &format!("SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, hashtext($1))"),
                &[Arg::Text(scope)],
            )
            .await?;
        }
        let current = tx
            .optional(
                "SELECT scope, run, owner, epoch, expires_at FROM leases WHERE scope = $1",
                &[Arg::Text(scope)],
            )
            .await?
            .as_ref()
            .map(lease_record)
            .transpose()?;
        match decide(current.as_ref(), run.as_str(), now) {
            LeaseDecision::Held { owner, run, until } => Err(LedgerError::Held {
                owner,
                run: RunId::parse(&run).map_err(LedgerError::Corrupt)?,
                until,
            }),
            LeaseDecision::Grant { epoch } => {
                let expires_at = now.saturating_add(millis(ttl));
                tx.execute(
                    "INSERT INTO leases (scope, run, owner, epoch, expires_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (scope) DO UPDATE SET run = excluded.run, owner = excluded.owner, \
                     epoch = excluded.epoch, expires_at = excluded.expires_at",
                    &[
                        Arg::Text(scope),
                        Arg::Text(run.as_str()),
                        Arg::Text(owner),
                        Arg::Int(epoch),
                        Arg::Int(expires_at),
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(Lease {
                    scope: scope.to_owned(),
                    run: run.clone(),
                    epoch,
                    expires_at,
                })
            }
        }
    }

    /// Extends `lease` to `now + ttl`, if it is still the current one.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: i64,
    ) -> Result<Lease, LedgerError> {
        let expires_at = now.saturating_add(millis(ttl));
        self.update_own_lease(lease, expires_at).await?;
        Ok(Lease {
            expires_at,
            ..lease.clone()
        })
    }

    /// Gives `lease` up: any run may take the scope at once. Fenced if it was
    /// taken over already.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), LedgerError> {
        self.update_own_lease(lease, 0).await
    }

    /// Sets the expiry of `lease` if the stored lease is still it: one
    /// conditional update, so nothing can come between check and write.
    async fn update_own_lease(&self, lease: &Lease, expires_at: i64) -> Result<(), LedgerError> {
        let mut tx = self.pool.write().await?;
        let updated = tx
            .execute(
                "UPDATE leases SET expires_at = $1 WHERE scope = $2 AND epoch = $3 AND run = $4",
                &[
                    Arg::Int(expires_at),
                    Arg::Text(&lease.scope),
                    Arg::Int(lease.epoch),
                    Arg::Text(lease.run.as_str()),
                ],
            )
            .await?;
        if updated == 0 {
            let current = tx
                .optional(
                    "SELECT epoch FROM leases WHERE scope = $1",
                    &[Arg::Text(&lease.scope)],
                )
                .await?
                .map(|r| r.int("epoch"))
                .transpose()?;
            return Err(LedgerError::Fenced {
                scope: lease.scope.clone(),
                held: lease.epoch,
                current,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The lease on `scope` as stored, if anyone ever held it.
    pub async fn lease(&self, scope: &str) -> Result<Option<LeaseRecord>, LedgerError> {
        let mut tx = self.pool.read().await?;
        tx.optional(
            "SELECT scope, run, owner, epoch, expires_at FROM leases WHERE scope = $1",
            &[Arg::Text(scope)],
        )
        .await?
        .as_ref()
        .map(lease_record)
        .transpose()
    }
}

fn lease_record(row: &Row) -> Result<LeaseRecord, LedgerError> {
    Ok(LeaseRecord {
        scope: row.text("scope")?,
        run: row.text("run")?,
        owner: row.text("owner")?,
        epoch: row.int("epoch")?,
        expires_at: row.int("expires_at")?,
    })
}

//! The audit log: events appended with forge-core's hash [`chain`], each
//! hashing the one before, and checked with its [`verify`].
//!
//! Sequence numbers come from the last row, read in the appending
//! transaction while no other appender can run (SQLite: the write lock
//! taken at `BEGIN IMMEDIATE`; PostgreSQL: an exclusive lock on the table,
//! which still lets readers read): strictly increasing, no gaps, each
//! event chained to the one really before it.

use forge_core::release::audit::{chain, verify, AuditEvent};

use crate::db::{Arg, Backend, Row};
use crate::error::LedgerError;
use crate::ledger::Ledger;

impl Ledger {
    /// Appends one event at `now` (unix millis); the event and its hash.
    pub async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        before: serde_json::Value,
        after: serde_json::Value,
        now: i64,
    ) -> Result<(AuditEvent, String), LedgerError> {
        let before_text = serde_json::to_string(&before).expect("JSON serialises");
        let after_text = serde_json::to_string(&after).expect("JSON serialises");
        let mut tx = self.pool.write().await?;
        if tx.backend() == Backend::Postgres {
            tx.execute("LOCK TABLE audit IN EXCLUSIVE MODE", &[])
                .await?;
        }
        let last = tx
            .optional("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
            .await?;
        let (seq, previous) = match last {
            Some(row) => (row.int("seq")? + 1, row.text("hash")?),
            None => (1, String::new()),
        };
        let event = AuditEvent {
            seq,
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            before,
            after,
        };
        let hash = chain(&previous, &event);
        tx.execute(
            "INSERT INTO audit (seq, at, actor, action, subject, before, after, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                Arg::Int(seq),
                Arg::Int(now),
                Arg::Text(actor),
                Arg::Text(action),
                Arg::Text(subject),
                Arg::Text(&before_text),
                Arg::Text(&after_text),
                Arg::Text(&hash),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok((event, hash))
    }

    /// The whole log in order, each event with its stored hash.
    pub async fn audit(&self) -> Result<Vec<(AuditEvent, String)>, LedgerError> {
        self.audit_rows()
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    /// Checks the chain: [`LedgerError::AuditBroken`] names the first event
    /// that was edited, or follows a removed one.
    pub async fn verify_audit(&self) -> Result<(), LedgerError> {
        let mut log = Vec::new();
        let mut unreadable = None;
        for row in self.audit_rows().await? {
            match event_from_row(&row) {
                Ok(entry) => log.push(entry),
                // JSON that no longer parses was edited too.
                Err(LedgerError::Corrupt(_)) => {
                    unreadable = Some(row.int("seq")?);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        verify(log.iter().map(|(e, h)| (e, h.as_str())))
            .and(unreadable.map_or(Ok(()), Err))
            .map_err(|seq| LedgerError::AuditBroken { seq })
    }

    async fn audit_rows(&self) -> Result<Vec<Row>, LedgerError> {
        let mut tx = self.pool.read().await?;
        Ok(tx
            .all(
                "SELECT seq, at, actor, action, subject, before, after, hash FROM audit ORDER BY seq",
                &[],
            )
            .await?)
    }
}

/// The event of `row` and its stored hash; [`LedgerError::Corrupt`] when its
/// JSON does not parse.
pub(crate) fn event_from_row(row: &Row) -> Result<(AuditEvent, String), LedgerError> {
    let json = |column: &str| -> Result<serde_json::Value, LedgerError> {
        serde_json::from_str(&row.text(column)?)
            .map_err(|e| LedgerError::Corrupt(format!("audit event's {column}: {e}")))
    };
    let event = AuditEvent {
        seq: row.int("seq")?,
        at: row.int("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        subject: row.text("subject")?,
        before: json("before")?,
        after: json("after")?,
    };
    Ok((event, row.text("hash")?))
}

//! A client whose every round trip to the server is bounded: a server that
//! sends nothing for that long (hung, or a statement stuck behind a lock) ends
//! the command with an error naming it, never a hang.

use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

/// The server at `peer` sent nothing for `waited`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no answer from {peer} for {} s", seconds(*waited))]
pub struct NoAnswer {
    /// `host:port`.
    pub peer: String,
    pub waited: Duration,
}

/// How one call to the server ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error, or the connection failed.
    #[error(transparent)]
    Server(#[from] tokio_postgres::Error),
    #[error(transparent)]
    NoAnswer(#[from] NoAnswer),
}

/// `5`, `2.5`: whole seconds without a fraction.
fn seconds(d: Duration) -> String {
    let s = format!("{:.1}", d.as_secs_f64());
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// Runs `call`, unless `peer` stays silent for `limit`.
pub(crate) async fn within<T>(
    peer: &str,
    limit: Duration,
    call: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(CallError::NoAnswer(NoAnswer {
            peer: peer.to_owned(),
            waited: limit,
        })),
    }
}

/// A connection to one database; each call waits at most `idle` for the
/// server's answer. After [`CallError::NoAnswer`] the session is not reused.
pub(crate) struct Session {
    client: Client,
    peer: String,
    idle: Duration,
}

impl Session {
    pub fn new(client: Client, peer: String, idle: Duration) -> Session {
        Session { client, peer, idle }
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, CallError> {
        within(&self.peer, self.idle, self.client.query(sql, params)).await
    }

    pub async fn batch_execute(&self, sql: &str) -> Result<(), CallError> {
        within(&self.peer, self.idle, self.client.batch_execute(sql)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_names_the_peer_and_the_seconds() {
        let e = |ms| NoAnswer {
            peer: "db:5432".into(),
            waited: Duration::from_millis(ms),
        };
        assert_eq!(e(5000).to_string(), "no answer from db:5432 for 5 s");
        assert_eq!(e(4999).to_string(), "no answer from db:5432 for 5 s");
        assert_eq!(e(2500).to_string(), "no answer from db:5432 for 2.5 s");
    }

    #[tokio::test]
    async fn a_call_that_never_finishes_is_cut_at_the_limit() {
        let never = std::future::pending::<Result<(), tokio_postgres::Error>>();
        let r = within("h:1", Duration::from_millis(20), never).await;
        assert!(matches!(r, Err(CallError::NoAnswer(n)) if n.peer == "h:1"));
    }
}

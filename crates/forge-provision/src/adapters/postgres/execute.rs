//! Runs a plan phase by phase: each phase on its database's connection, in
//! one transaction when the phase allows it.

use super::{Connection, PostgresError};
use crate::domain::plan::{Phase, Plan, Statement};
use forge_core::secret::redact;
use tokio_postgres::Client;

async fn run(client: &Client, statement: &Statement) -> Result<(), tokio_postgres::Error> {
    match statement {
        Statement::CreateSlot { slot, plugin } => {
            client
                .query(
                    "SELECT pg_create_logical_replication_slot($1, $2)",
                    &[slot, plugin],
                )
                .await?;
        }
        other => {
            let sql = other
                .sql_text()
                .expect("statements without bind parameters have SQL text");
            client.batch_execute(&sql).await?;
        }
    }
    Ok(())
}

fn failure(phase: &Phase, statement: &Statement, e: &tokio_postgres::Error) -> PostgresError {
    let mut message = super::describe(e);
    if let Statement::WithPassword { verifier, .. } = statement {
        message = redact(&message, verifier);
    }
    PostgresError::Apply {
        phase: phase.heading().trim_start_matches("-- ").to_owned(),
        statement: statement.display(),
        message,
        rolled_back: phase.transaction,
    }
}

async fn run_phase(client: &Client, phase: &Phase) -> Result<(), PostgresError> {
    if phase.transaction {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| failure(phase, &phase.statements[0], &e))?;
    }
    for statement in &phase.statements {
        if let Err(e) = run(client, statement).await {
            if phase.transaction {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            return Err(failure(phase, statement, &e));
        }
    }
    if phase.transaction {
        let last = phase.statements.last().expect("phases are never empty");
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| failure(phase, last, &e))?;
    }
    Ok(())
}

/// Executes `plan`; `done` hears each phase once it has committed.
pub async fn execute(
    conn: &Connection,
    plan: &Plan,
    done: &mut dyn FnMut(&Phase),
) -> Result<(), PostgresError> {
    for phase in &plan.phases {
        match &phase.database {
            None => run_phase(&conn.client, phase).await?,
            Some(db) => {
                let client = conn.open_database(db).await?;
                run_phase(&client, phase).await?;
            }
        }
        done(phase);
    }
    Ok(())
}

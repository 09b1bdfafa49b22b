//! Runs a plan phase by phase: each phase on its database's connection, in
//! one transaction when the phase allows it.

use super::session::{CallError, Session};
use super::{Connection, PostgresError};
use crate::domain::plan::{Phase, Plan, Statement};
use forge_core::secret::redact;

async fn run(session: &Session, statement: &Statement) -> Result<(), CallError> {
    match statement {
        Statement::CreateSlot { slot, plugin } => {
            session
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
            session.batch_execute(&sql).await?;
        }
    }
    Ok(())
}

fn failure(phase: &Phase, statement: &Statement, e: &CallError) -> PostgresError {
    let phase_name = phase.heading().trim_start_matches("-- ").to_owned();
    let e = match e {
        CallError::Server(e) => e,
        CallError::NoAnswer(n) => {
            // No ROLLBACK can be sent to a silent server; closing the
            // connection (on exit) makes it roll back an open transaction.
            let outcome = if phase.transaction {
                "the server rolls this phase back once it sees the connection closed, unless it was committing"
            } else {
                "whether it took effect is unknown"
            };
            return PostgresError::Apply {
                phase: phase_name,
                statement: statement.display(),
                message: format!("{n} ({outcome}; the next run's plan shows what is left)"),
                rolled_back: false,
            };
        }
    };
    let mut message = super::describe(e);
    if let Statement::WithPassword { verifier, .. } = statement {
        message = redact(&message, verifier);
    }
    PostgresError::Apply {
        phase: phase_name,
        statement: statement.display(),
        message,
        rolled_back: phase.transaction,
    }
}

async fn run_phase(session: &Session, phase: &Phase) -> Result<(), PostgresError> {
    if phase.transaction {
        session
            .batch_execute("BEGIN")
            .await
            .map_err(|e| failure(phase, &phase.statements[0], &e))?;
    }
    for statement in &phase.statements {
        if let Err(e) = run(session, statement).await {
            if phase.transaction && matches!(e, CallError::Server(_)) {
                let _ = session.batch_execute("ROLLBACK").await;
            }
            return Err(failure(phase, statement, &e));
        }
    }
    if phase.transaction {
        let last = phase.statements.last().expect("phases are never empty");
        session
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
            None => run_phase(&conn.session, phase).await?,
            Some(db) => {
                let session = conn.open_database(db).await?;
                run_phase(&session, phase).await?;
            }
        }
        done(phase);
    }
    Ok(())
}

//! An ordered plan: phases (one database each, in one transaction where
//! PostgreSQL allows), each a list of statements. Plan text never shows a
//! secret: passwords print as `'<redacted>'`.

use super::sql;
use forge_core::secret::Secret;
use serde::Serialize;
use std::fmt;

/// What runs, in order.
#[derive(Debug, Default)]
pub struct Plan {
    pub phases: Vec<Phase>,
    /// Things worth knowing that need no change (e.g. an inactive slot).
    pub warnings: Vec<String>,
}

/// Statements that run on one connection, in one transaction or each alone.
#[derive(Debug)]
pub struct Phase {
    /// The database to connect to; `None` is the provisioning connection's.
    pub database: Option<String>,
    /// Whether the statements run in one transaction.
    pub transaction: bool,
    pub statements: Vec<Statement>,
}

/// One change.
#[derive(Debug)]
pub enum Statement {
    /// DDL whose only variable parts are quoted identifiers and keywords.
    Sql(String),
    /// `sql` followed by ` PASSWORD '<verifier>'`; the verifier is a SCRAM
    /// verifier (not the password) but is still redacted in output.
    WithPassword { sql: String, verifier: Secret },
    /// `pg_create_logical_replication_slot`, with the names as bind parameters.
    CreateSlot { slot: String, plugin: String },
}

impl Statement {
    /// The text shown in plans and logs (redacted).
    pub fn display(&self) -> String {
        match self {
            Statement::Sql(s) => format!("{s};"),
            Statement::WithPassword { sql, .. } => format!("{sql} PASSWORD '<redacted>';"),
            Statement::CreateSlot { slot, plugin } => format!(
                "SELECT pg_create_logical_replication_slot({}, {});",
                sql::literal(slot),
                sql::literal(plugin)
            ),
        }
    }

    /// The text sent to the server for statements without bind parameters.
    pub fn sql_text(&self) -> Option<String> {
        match self {
            Statement::Sql(s) => Some(s.clone()),
            Statement::WithPassword { sql, verifier } => Some(format!(
                "{sql} PASSWORD {}",
                sql::literal(verifier.expose())
            )),
            Statement::CreateSlot { .. } => None,
        }
    }
}

impl Phase {
    /// The comment line that heads the phase in plan text.
    pub fn heading(&self) -> String {
        let db = match &self.database {
            Some(d) => format!("database {}", sql::ident(d)),
            None => "cluster (connected database)".to_owned(),
        };
        let tx = if self.transaction {
            "one transaction"
        } else {
            "no transaction"
        };
        format!("-- {db}, {tx}")
    }
}

impl Plan {
    /// Number of statements.
    pub fn len(&self) -> usize {
        self.phases.iter().map(|p| p.statements.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a phase unless it is empty.
    pub fn push(&mut self, database: Option<&str>, transaction: bool, statements: Vec<Statement>) {
        if !statements.is_empty() {
            self.phases.push(Phase {
                database: database.map(str::to_owned),
                transaction,
                statements,
            });
        }
    }

    /// The machine-readable view (`--json`), redacted like the text.
    pub fn to_json(&self) -> PlanJson {
        PlanJson {
            changes: self.len(),
            warnings: self.warnings.clone(),
            phases: self
                .phases
                .iter()
                .map(|p| PhaseJson {
                    database: p.database.clone(),
                    transaction: p.transaction,
                    statements: p.statements.iter().map(Statement::display).collect(),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "-- warning: {w}")?;
        }
        for phase in &self.phases {
            writeln!(f, "{}", phase.heading())?;
            for s in &phase.statements {
                writeln!(f, "{}", s.display())?;
            }
        }
        match self.len() {
            0 => writeln!(f, "-- no changes: the server matches the spec"),
            1 => writeln!(f, "-- 1 change"),
            n => writeln!(f, "-- {n} changes"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PlanJson {
    pub changes: usize,
    pub warnings: Vec<String>,
    pub phases: Vec<PhaseJson>,
}

#[derive(Debug, Serialize)]
pub struct PhaseJson {
    pub database: Option<String>,
    pub transaction: bool,
    pub statements: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let s = Statement::WithPassword {
            sql: "ALTER ROLE \"a\"".into(),
            verifier: Secret::new("SCRAM-SHA-256$4096:x$y:z"),
        };
        assert_eq!(s.display(), "ALTER ROLE \"a\" PASSWORD '<redacted>';");
        assert!(s
            .sql_text()
            .unwrap()
            .ends_with("PASSWORD 'SCRAM-SHA-256$4096:x$y:z'"));
        let mut plan = Plan::default();
        plan.push(None, true, vec![s]);
        assert!(!plan.to_string().contains("SCRAM"));
        assert!(!serde_json::to_string(&plan.to_json())
            .unwrap()
            .contains("SCRAM"));
    }
}

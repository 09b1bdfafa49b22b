//! Change data capture: `wal_level`, publications and logical replication
//! slots. The CDC role itself is an ordinary role (merged in by the parser).

use super::catalog::{DatabaseCatalog, PublicationState};
use super::plan::Statement;
use super::plan_context::Ctx;
use super::spec::PublicationTables;
use super::sql::ident;
use std::collections::BTreeSet;

/// What to tell the user when `wal_level` is not `logical`.
pub fn wal_level_problem(wal_level: &str) -> Option<String> {
    (wal_level != "logical").then(|| {
        format!(
            "cdc: needs wal_level = logical, but the server has wal_level = {wal_level}. \
             Fix: run `ALTER SYSTEM SET wal_level = logical;` as a superuser (or set \
             `wal_level = logical` in postgresql.conf) and restart PostgreSQL"
        )
    })
}

/// Server-wide checks that must pass before anything changes.
pub(crate) fn check_server(ctx: &mut Ctx<'_>) {
    if !ctx.desired.cdc.is_empty() {
        if let Some(p) = wal_level_problem(&ctx.observed.wal_level) {
            ctx.problem(&["cdc".into()], &[], p);
        }
    }
}

fn table_list(tables: &BTreeSet<(String, String)>) -> String {
    tables
        .iter()
        .map(|(s, t)| format!("{}.{}", ident(s), ident(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn create(name: &str, want: &PublicationState) -> Statement {
    let q = ident(name);
    Statement::Sql(if want.all_tables {
        format!("CREATE PUBLICATION {q} FOR ALL TABLES")
    } else if want.tables.is_empty() {
        format!("CREATE PUBLICATION {q}")
    } else {
        format!(
            "CREATE PUBLICATION {q} FOR TABLE {}",
            table_list(&want.tables)
        )
    })
}

/// Publications of the CDC entries on `database`, in that database's transaction.
pub(crate) fn publication_statements(
    ctx: &mut Ctx<'_>,
    database: &str,
    catalog: &DatabaseCatalog,
) -> Vec<Statement> {
    let mut out = Vec::new();
    for cdc in ctx.desired.cdc.iter().filter(|c| c.database == database) {
        let want = match &cdc.tables {
            PublicationTables::All => PublicationState {
                all_tables: true,
                tables: BTreeSet::new(),
            },
            PublicationTables::List(list) => PublicationState {
                all_tables: false,
                tables: list.iter().cloned().collect(),
            },
        };
        let q = ident(&cdc.publication);
        match catalog.publications.get(&cdc.publication) {
            None => out.push(create(&cdc.publication, &want)),
            Some(have) if have == &want => {}
            Some(have) if have.all_tables != want.all_tables => {
                // FOR ALL TABLES cannot be altered into a list or back; both
                // statements run in the database's transaction, so readers
                // never see the publication missing.
                out.push(Statement::Sql(format!("DROP PUBLICATION {q}")));
                out.push(create(&cdc.publication, &want));
            }
            Some(have) => {
                if want.tables.is_empty() {
                    out.push(Statement::Sql(format!(
                        "ALTER PUBLICATION {q} DROP TABLE {}",
                        table_list(&have.tables)
                    )));
                } else {
                    out.push(Statement::Sql(format!(
                        "ALTER PUBLICATION {q} SET TABLE {}",
                        table_list(&want.tables)
                    )));
                }
            }
        }
    }
    out
}

/// Slots to create, each `(database, statement)`; conflicts become problems,
/// inactive slots warnings (a slot keeps WAL until its consumer reads it).
pub(crate) fn slot_statements(
    ctx: &mut Ctx<'_>,
    warnings: &mut Vec<String>,
) -> Vec<(String, Statement)> {
    let mut out = Vec::new();
    let desired = ctx.desired;
    for cdc in &desired.cdc {
        match ctx.observed.slots.get(&cdc.slot) {
            None => out.push((
                cdc.database.clone(),
                Statement::CreateSlot {
                    slot: cdc.slot.clone(),
                    plugin: cdc.plugin.clone(),
                },
            )),
            Some(s) => {
                let same = s.logical
                    && s.database.as_deref() == Some(&cdc.database)
                    && s.plugin.as_deref() == Some(&cdc.plugin);
                if !same {
                    let message = format!(
                        "replication slot `{}` exists for database {} with plugin {}, the spec wants database `{}` with plugin {}; \
                         drop it by hand if nothing uses it: SELECT pg_drop_replication_slot('{}')",
                        cdc.slot,
                        s.database.as_deref().unwrap_or("(none, physical)"),
                        s.plugin.as_deref().unwrap_or("(none)"),
                        cdc.database,
                        cdc.plugin,
                        cdc.slot
                    );
                    ctx.problem(&cdc.at, &["slot".into()], message);
                } else if !s.active {
                    warnings.push(format!(
                        "replication slot `{}` is inactive; it retains WAL until a consumer reads from it",
                        cdc.slot
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_level_message_says_how_to_fix() {
        assert!(wal_level_problem("logical").is_none());
        let msg = wal_level_problem("replica").unwrap();
        assert!(msg.contains("wal_level = replica"), "{msg}");
        assert!(
            msg.contains("ALTER SYSTEM SET wal_level = logical"),
            "{msg}"
        );
        assert!(msg.contains("restart"), "{msg}");
    }
}

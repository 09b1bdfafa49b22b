//! Reads the catalogs: one query per kind for the cluster, and one per kind
//! in each database the spec names (never one query per object).

use super::session::{CallError, Session};
use super::{Connection, PostgresError};
use crate::domain::catalog::{
    AclEntry, ClusterState, DatabaseCatalog, DatabaseState, DefaultAclEntry, DependencyKind,
    PublicationState, RelationKind, RelationState, RoleDependency, RoleState, SchemaState,
    SlotState,
};
use crate::domain::desired::Desired;
use forge_core::secret::Secret;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use tokio_postgres::Row;

/// Explodes an ACL column into (grantee name or NULL for PUBLIC, privilege) rows;
/// a NULL privilege means "no ACL entries".
fn acl_join(column: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT CASE WHEN x.grantee = 0 THEN NULL ELSE pg_get_userbyid(x.grantee)::text END AS grantee, \
         x.privilege_type AS privilege FROM aclexplode({column}) x) a ON true"
    )
}

fn acl_entry(row: &Row, grantee: usize, privilege: usize) -> Option<AclEntry> {
    let p: Option<String> = row.get(privilege);
    p.map(|p| (row.get(grantee), p))
}

async fn query(
    session: &Session,
    what: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, PostgresError> {
    session.query(sql, params).await.map_err(|e| match e {
        CallError::Server(source) => PostgresError::Read {
            what: what.to_owned(),
            source,
        },
        CallError::NoAnswer(source) => PostgresError::NoAnswer {
            during: format!("reading {what}"),
            source,
        },
    })
}

/// Everything the planner needs for `desired`.
pub async fn read_state(
    conn: &Connection,
    desired: &Desired,
    concurrency: usize,
) -> Result<ClusterState, PostgresError> {
    let c = &conn.session;
    let mut state = ClusterState::default();
    let row = &query(
        c,
        "server settings",
        "SELECT current_user::text, current_database()::text, current_setting('wal_level')",
        &[],
    )
    .await?[0];
    state.current_user = row.get(0);
    state.current_database = row.get(1);
    state.wal_level = row.get(2);

    let sql = "SELECT rolname::text, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, \
               rolbypassrls, rolconnlimit, rolpassword FROM pg_authid";
    for r in query(c, "roles (pg_authid)", sql, &[]).await? {
        let password: Option<String> = r.get(9);
        let role = RoleState {
            superuser: r.get(1),
            inherit: r.get(2),
            createrole: r.get(3),
            createdb: r.get(4),
            login: r.get(5),
            replication: r.get(6),
            bypassrls: r.get(7),
            connection_limit: r.get(8),
            password: password.map(Secret::new),
        };
        state.roles.insert(r.get(0), role);
    }

    let sql =
        "SELECT pg_get_userbyid(roleid)::text, pg_get_userbyid(member)::text FROM pg_auth_members";
    for r in query(c, "memberships (pg_auth_members)", sql, &[]).await? {
        state.memberships.insert((r.get(0), r.get(1)));
    }

    let sql = format!(
        "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, d.datistemplate, a.grantee, a.privilege \
         FROM pg_database d {}",
        acl_join("d.datacl")
    );
    for r in query(c, "databases (pg_database)", &sql, &[]).await? {
        let db = state
            .databases
            .entry(r.get(0))
            .or_insert_with(|| DatabaseState {
                owner: r.get(1),
                template: r.get(2),
                acl: Vec::new(),
            });
        db.acl.extend(acl_entry(&r, 3, 4));
    }

    for r in query(
        c,
        "available extensions",
        "SELECT name::text FROM pg_available_extensions",
        &[],
    )
    .await?
    {
        state.available_extensions.insert(r.get(0));
    }

    let sql = "SELECT slot_name::text, plugin::text, slot_type, database::text, active FROM pg_replication_slots";
    for r in query(c, "replication slots", sql, &[]).await? {
        let slot_type: String = r.get(2);
        let slot = SlotState {
            plugin: r.get(1),
            logical: slot_type == "logical",
            database: r.get(3),
            active: r.get(4),
        };
        state.slots.insert(r.get(0), slot);
    }

    if desired.prune.roles {
        read_role_dependencies(c, &mut state).await?;
    }

    let wanted: Vec<String> = desired
        .database_names()
        .into_iter()
        .filter(|d| state.databases.contains_key(d))
        .collect();
    let catalogs: Vec<(String, DatabaseCatalog)> = stream::iter(wanted)
        .map(|db| async move {
            let schemas = schemas_in_spec(desired, &db);
            let session = conn.open_database(&db).await?;
            let catalog = read_database(&session, &db, &schemas).await?;
            Ok::<_, PostgresError>((db, catalog))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    state.in_database = catalogs.into_iter().collect();
    Ok(state)
}

/// What non-superuser roles own or are granted, counted per database, kind
/// and catalog (`pg_shdepend` covers every database; one query).
async fn read_role_dependencies(
    c: &Session,
    state: &mut ClusterState,
) -> Result<(), PostgresError> {
    let sql = "SELECT a.rolname::text, d.datname::text, s.deptype::text, s.classid::regclass::text, \
               CASE WHEN s.classid = 'pg_database'::regclass \
                 THEN (SELECT o.datname::text FROM pg_database o WHERE o.oid = s.objid) END, count(*) \
               FROM pg_shdepend s JOIN pg_authid a ON a.oid = s.refobjid \
               LEFT JOIN pg_database d ON d.oid = s.dbid \
               WHERE s.refclassid = 'pg_authid'::regclass AND NOT a.rolsuper \
                 AND (s.dbid = 0 OR d.oid IS NOT NULL) \
               GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";
    for r in query(c, "role dependencies (pg_shdepend)", sql, &[]).await? {
        let Some(kind) = DependencyKind::from_deptype(r.get(2)) else {
            continue;
        };
        state
            .role_dependencies
            .entry(r.get(0))
            .or_default()
            .push(RoleDependency {
                database: r.get(1),
                kind,
                class: r.get(3),
                object: r.get(4),
                count: r.get(5),
            });
    }
    Ok(())
}

fn schemas_in_spec(desired: &Desired, db: &str) -> Vec<String> {
    desired
        .databases
        .iter()
        .filter(|d| d.name == db)
        .flat_map(|d| d.schemas.iter().map(|s| s.name.clone()))
        .collect()
}

fn kind(relkind: &str) -> RelationKind {
    if relkind == "S" {
        RelationKind::Sequence
    } else {
        RelationKind::Table
    }
}

async fn read_database(
    c: &Session,
    db: &str,
    schemas: &[String],
) -> Result<DatabaseCatalog, PostgresError> {
    let what = |kind: &str| format!("{kind} in database {db:?}");
    let mut catalog = DatabaseCatalog::default();
    for r in query(
        c,
        &what("extensions"),
        "SELECT extname::text FROM pg_extension",
        &[],
    )
    .await?
    {
        catalog.extensions.insert(r.get(0));
    }

    let sql = format!(
        "SELECT n.nspname::text, pg_get_userbyid(n.nspowner)::text, a.grantee, a.privilege FROM pg_namespace n {}",
        acl_join("n.nspacl")
    );
    for r in query(c, &what("schemas"), &sql, &[]).await? {
        let s = catalog
            .schemas
            .entry(r.get(0))
            .or_insert_with(|| SchemaState {
                owner: r.get(1),
                acl: Vec::new(),
            });
        s.acl.extend(acl_entry(&r, 2, 3));
    }

    if !schemas.is_empty() {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, pg_get_userbyid(c.relowner)::text, a.grantee, a.privilege \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace {} \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname::text = ANY($1) ORDER BY 1, 2",
            acl_join("c.relacl")
        );
        let mut relations: BTreeMap<(String, String), RelationState> = BTreeMap::new();
        for r in query(c, &what("table and sequence privileges"), &sql, &[&schemas]).await? {
            let key: (String, String) = (r.get(0), r.get(1));
            let rel = relations
                .entry(key.clone())
                .or_insert_with(|| RelationState {
                    schema: key.0,
                    name: key.1,
                    kind: kind(r.get::<_, &str>(2)),
                    owner: r.get(3),
                    acl: Vec::new(),
                });
            rel.acl.extend(acl_entry(&r, 4, 5));
        }
        catalog.relations = relations.into_values().collect();
    }

    let sql = "SELECT pg_get_userbyid(d.defaclrole)::text, n.nspname::text, d.defaclobjtype::text, \
               CASE WHEN x.grantee = 0 THEN NULL ELSE pg_get_userbyid(x.grantee)::text END, x.privilege_type \
               FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) x \
               WHERE d.defaclobjtype IN ('r', 'S')";
    for r in query(c, &what("default privileges"), sql, &[]).await? {
        catalog.default_acl.push(DefaultAclEntry {
            role: r.get(0),
            schema: r.get(1),
            kind: kind(r.get::<_, &str>(2)),
            grantee: r.get(3),
            privilege: r.get(4),
        });
    }

    let sql = "SELECT p.pubname::text, p.puballtables, t.schemaname::text, t.tablename::text \
               FROM pg_publication p LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname";
    for r in query(c, &what("publications"), sql, &[]).await? {
        let p = catalog
            .publications
            .entry(r.get(0))
            .or_insert_with(|| PublicationState {
                all_tables: r.get(1),
                tables: Default::default(),
            });
        let (schema, table): (Option<String>, Option<String>) = (r.get(2), r.get(3));
        if let (Some(s), Some(t), false) = (schema, table, p.all_tables) {
            p.tables.insert((s, t));
        }
    }
    Ok(catalog)
}

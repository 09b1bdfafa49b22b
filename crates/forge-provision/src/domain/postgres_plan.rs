//! The planner: a pure function from the desired state and what the
//! catalogs say to an ordered [`Plan`].
//!
//! Order, so that a failure part-way leaves nothing the next run cannot finish:
//! 1. cluster, one transaction: create and alter roles, set passwords, grant memberships;
//! 2. `CREATE DATABASE`, each alone (it cannot run in a transaction);
//! 3. each database, one transaction: owner, grants, extensions, schemas,
//!    schema/table/sequence/default privileges, publications, pruning inside it;
//! 4. replication slots, each alone (after the publication is committed);
//! 5. pruning across the cluster: `DROP DATABASE` each alone, then per database
//!    `REASSIGN OWNED`/`DROP OWNED` of the roles to drop (with `reassign_owned_to`),
//!    then `DROP ROLE` in one transaction (see [`role_prune_plan`]).

use super::catalog::{ClusterState, DatabaseCatalog, RoleState};
use super::desired::{Desired, DesiredDatabase, DesiredRole, RoleAttrs};
use super::plan::{Plan, Statement};
use super::plan_context::Ctx;
use super::sql::ident;
use super::{cdc_plan, grants_plan, role_prune_plan, scram};
use std::collections::BTreeSet;

/// Why no plan can be made; nothing has been changed. Each problem starts
/// with the `file:line:column` of the entry or field it concerns.
#[derive(Debug, thiserror::Error)]
#[error("the spec cannot be applied to this server:\n  - {}", problems.join("\n  - "))]
pub struct PlanError {
    pub problems: Vec<String>,
}

/// Knobs the planner does not read from the spec.
pub struct PlanOptions<'a> {
    /// `--allow-prune`: pruning happens only with this and `prune:` in the spec.
    pub allow_prune: bool,
    /// Fresh salt for each new SCRAM verifier.
    pub salt: &'a mut dyn FnMut() -> [u8; scram::SALT_LEN],
}

/// Computes the ordered changes that make `observed` match `desired`.
pub fn plan(
    desired: &Desired,
    observed: &ClusterState,
    opts: PlanOptions<'_>,
) -> Result<Plan, PlanError> {
    let mut ctx = Ctx {
        desired,
        observed,
        allow_prune: opts.allow_prune,
        problems: Vec::new(),
    };
    let mut plan = Plan::default();
    cdc_plan::check_server(&mut ctx);

    let cluster = role_statements(&mut ctx, opts.salt);
    plan.push(None, true, cluster);

    for db in &desired.databases {
        if !observed.databases.contains_key(&db.name) {
            if let Some(owner) = &db.owner {
                ctx.need_role(owner, &db.at, &["owner".into()], || {
                    format!("owner of database `{}`", db.name)
                });
            }
            let owner = db
                .owner
                .as_ref()
                .map(|o| format!(" OWNER {}", ident(o)))
                .unwrap_or_default();
            plan.push(
                None,
                false,
                vec![Statement::Sql(format!(
                    "CREATE DATABASE {}{owner}",
                    ident(&db.name)
                ))],
            );
        }
    }

    let empty = DatabaseCatalog::default();
    for name in desired.database_names() {
        let spec = desired.databases.iter().find(|d| d.name == name);
        if spec.is_none() && !observed.databases.contains_key(&name) {
            let cdc = desired.cdc.iter().find(|c| c.database == name);
            let at = cdc.map(|c| c.at.as_slice()).unwrap_or_default();
            ctx.problem(at, &["database".into()], format!("database `{name}` (named by cdc:) does not exist and is not declared under databases:"));
            continue;
        }
        let catalog = observed.in_database.get(&name).unwrap_or(&empty);
        let mut statements = Vec::new();
        if let Some(spec) = spec {
            statements.extend(database_statements(&mut ctx, spec, catalog));
        }
        statements.extend(cdc_plan::publication_statements(&mut ctx, &name, catalog));
        plan.push(Some(&name), true, statements);
    }

    for (database, statement) in cdc_plan::slot_statements(&mut ctx, &mut plan.warnings) {
        plan.push(Some(&database), false, vec![statement]);
    }

    role_prune_plan::check_target(&mut ctx);
    prune_cluster(&mut ctx, &mut plan);
    if ctx.problems.is_empty() {
        Ok(plan)
    } else {
        Err(PlanError {
            problems: ctx.problems,
        })
    }
}

fn attr_clauses(want: &RoleAttrs, have: Option<&RoleState>) -> Vec<String> {
    let mut out = Vec::new();
    let flags = [
        (want.superuser, have.map(|h| h.superuser), "SUPERUSER"),
        (want.createdb, have.map(|h| h.createdb), "CREATEDB"),
        (want.createrole, have.map(|h| h.createrole), "CREATEROLE"),
        (want.inherit, have.map(|h| h.inherit), "INHERIT"),
        (want.login, have.map(|h| h.login), "LOGIN"),
        (want.replication, have.map(|h| h.replication), "REPLICATION"),
        (want.bypassrls, have.map(|h| h.bypassrls), "BYPASSRLS"),
    ];
    for (want, have, keyword) in flags {
        if let Some(w) = want {
            if have != Some(w) {
                out.push(if w {
                    keyword.to_owned()
                } else {
                    format!("NO{keyword}")
                });
            }
        }
    }
    if let Some(limit) = want.connection_limit {
        if have.map(|h| h.connection_limit) != Some(limit) {
            out.push(format!("CONNECTION LIMIT {limit}"));
        }
    }
    out
}

fn role_statements(
    ctx: &mut Ctx<'_>,
    salt: &mut dyn FnMut() -> [u8; scram::SALT_LEN],
) -> Vec<Statement> {
    let mut creates = Vec::new();
    let mut alters = Vec::new();
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    for role in &ctx.desired.roles {
        let have = ctx.observed.roles.get(&role.name);
        let clauses = attr_clauses(&role.attrs, have);
        let verb = if have.is_some() { "ALTER" } else { "CREATE" };
        let mut sql = format!("{verb} ROLE {}", ident(&role.name));
        if !clauses.is_empty() {
            sql.push_str(" WITH ");
            sql.push_str(&clauses.join(" "));
        }
        let password_ok = |p: &forge_core::secret::Secret| {
            have.and_then(|h| h.password.as_ref())
                .is_some_and(|stored| scram::matches(stored.expose(), p.expose()))
        };
        let target = if have.is_some() {
            &mut alters
        } else {
            &mut creates
        };
        match &role.password {
            Some(p) if !password_ok(p) => {
                let verifier = scram::verifier(p.expose(), &salt(), scram::DEFAULT_ITERATIONS);
                target.push(Statement::WithPassword {
                    sql,
                    verifier: forge_core::secret::Secret::new(verifier),
                });
            }
            _ if have.is_none() || !clauses.is_empty() => target.push(Statement::Sql(sql)),
            _ => {}
        }
        membership_statements(ctx, role, &mut grants, &mut revokes);
    }
    creates
        .into_iter()
        .chain(alters)
        .chain(grants)
        .chain(revokes)
        .collect()
}

fn membership_statements(
    ctx: &mut Ctx<'_>,
    role: &DesiredRole,
    grants: &mut Vec<Statement>,
    revokes: &mut Vec<Statement>,
) {
    for parent in &role.member_of {
        let index = role.member_of_at.get(parent).copied().unwrap_or_default();
        ctx.need_role(
            parent,
            &role.at,
            &["member_of".into(), index.into()],
            || format!("in member_of of `{}`", role.name),
        );
        if !ctx
            .observed
            .memberships
            .contains(&(parent.clone(), role.name.clone()))
        {
            grants.push(Statement::Sql(format!(
                "GRANT {} TO {}",
                ident(parent),
                ident(&role.name)
            )));
        }
    }
    if ctx.allow_prune && ctx.desired.prune.memberships {
        for (parent, member) in &ctx.observed.memberships {
            if member == &role.name && !role.member_of.contains(parent) {
                revokes.push(Statement::Sql(format!(
                    "REVOKE {} FROM {}",
                    ident(parent),
                    ident(member)
                )));
            }
        }
    }
}

fn database_statements(
    ctx: &mut Ctx<'_>,
    db: &DesiredDatabase,
    catalog: &DatabaseCatalog,
) -> Vec<Statement> {
    let mut out = Vec::new();
    if let (Some(owner), Some(have)) = (&db.owner, ctx.observed.databases.get(&db.name)) {
        if &have.owner != owner {
            ctx.need_role(owner, &db.at, &["owner".into()], || {
                format!("owner of database `{}`", db.name)
            });
            out.push(Statement::Sql(format!(
                "ALTER DATABASE {} OWNER TO {}",
                ident(&db.name),
                ident(owner)
            )));
        }
    }
    out.extend(grants_plan::database_grants(ctx, db));
    for ext in &db.extensions {
        if !catalog.extensions.contains(ext) {
            if !ctx.observed.available_extensions.contains(ext) {
                let index = db.extensions_at.get(ext).copied().unwrap_or_default();
                ctx.problem(&db.at, &["extensions".into(), index.into()], format!(
                    "extension `{ext}` (database `{}`) is not available on the server; install its package (e.g. postgresql-contrib)",
                    db.name
                ));
            }
            out.push(Statement::Sql(format!(
                "CREATE EXTENSION IF NOT EXISTS {}",
                ident(ext)
            )));
        }
    }
    for schema in &db.schemas {
        match (catalog.schemas.get(&schema.name), &schema.owner) {
            (None, owner) => {
                let auth = owner
                    .as_ref()
                    .map(|o| format!(" AUTHORIZATION {}", ident(o)))
                    .unwrap_or_default();
                out.push(Statement::Sql(format!(
                    "CREATE SCHEMA {}{auth}",
                    ident(&schema.name)
                )));
            }
            (Some(have), Some(owner)) if &have.owner != owner => {
                out.push(Statement::Sql(format!(
                    "ALTER SCHEMA {} OWNER TO {}",
                    ident(&schema.name),
                    ident(owner)
                )));
            }
            _ => {}
        }
        if let Some(owner) = &schema.owner {
            ctx.need_role(owner, &schema.at, &["owner".into()], || {
                format!(
                    "owner of schema `{}` in database `{}`",
                    schema.name, db.name
                )
            });
        }
        out.extend(grants_plan::schema_grants(ctx, db, schema, catalog));
    }
    if ctx.allow_prune && ctx.desired.prune.extensions {
        for ext in catalog
            .extensions
            .iter()
            .filter(|e| !db.extensions.contains(*e) && *e != "plpgsql")
        {
            out.push(Statement::Sql(format!("DROP EXTENSION {}", ident(ext))));
        }
    }
    if ctx.allow_prune && ctx.desired.prune.schemas {
        let declared: BTreeSet<&str> = db.schemas.iter().map(|s| s.name.as_str()).collect();
        for name in catalog.schemas.keys() {
            let system =
                name.starts_with("pg_") || name == "information_schema" || name == "public";
            if !system && !declared.contains(name.as_str()) {
                out.push(Statement::Sql(format!("DROP SCHEMA {}", ident(name))));
            }
        }
    }
    out
}

fn prune_cluster(ctx: &mut Ctx<'_>, plan: &mut Plan) {
    let o = ctx.observed;
    let mut dropped = BTreeSet::new();
    if ctx.allow_prune && ctx.desired.prune.databases {
        let declared = ctx.desired.database_names();
        for (name, db) in &o.databases {
            let keep = db.template
                || name == "postgres"
                || name == &o.current_database
                || declared.contains(name);
            if !keep {
                plan.push(
                    None,
                    false,
                    vec![Statement::Sql(format!("DROP DATABASE {}", ident(name)))],
                );
                dropped.insert(name.clone());
            }
        }
    }
    role_prune_plan::drop_roles(ctx, plan, &dropped);
}

#[cfg(test)]
#[path = "postgres_plan_tests.rs"]
pub(crate) mod tests;

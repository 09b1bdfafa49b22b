//! Privileges: on databases, on schemas, on all tables and sequences of a
//! schema, and default privileges for objects created later. One GRANT (or
//! REVOKE) per role, schema and object kind, never one per table.

use super::catalog::{acl_has, DatabaseCatalog, RelationKind};
use super::desired::{DesiredDatabase, DesiredSchema};
use super::plan::Statement;
use super::plan_context::Ctx;
use super::privileges::{
    self, DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege,
};
use super::sql::ident;
use forge_core::yaml_error::Seg;
use std::collections::{BTreeMap, BTreeSet};

fn grant(privs: &[&str], on: &str, role: &str) -> Statement {
    Statement::Sql(format!(
        "GRANT {} ON {on} TO {}",
        privs.join(", "),
        ident(role)
    ))
}

fn revoke(privs: &[&str], on: &str, role: &str) -> Statement {
    Statement::Sql(format!(
        "REVOKE {} ON {on} FROM {}",
        privs.join(", "),
        ident(role)
    ))
}

fn prune_grants(ctx: &Ctx<'_>) -> bool {
    ctx.allow_prune && ctx.desired.prune.grants
}

/// `databases[].grants`: CONNECT, CREATE, TEMPORARY on the database.
pub(crate) fn database_grants(ctx: &mut Ctx<'_>, db: &DesiredDatabase) -> Vec<Statement> {
    let have = ctx.observed.databases.get(&db.name);
    let acl = have.map(|h| h.acl.clone()).unwrap_or_default();
    let on = format!("DATABASE {}", ident(&db.name));
    let mut out = Vec::new();
    let mut declared: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, (role, privs)) in db.grants.iter().enumerate() {
        let role_at = ["grants".into(), k.into(), "role".into()];
        ctx.need_role(role, &db.at, &role_at, || {
            format!("grantee on database `{}`", db.name)
        });
        let missing: Vec<&str> = privs
            .iter()
            .map(|p| p.as_sql())
            .filter(|p| !acl_has(&acl, role, p))
            .collect();
        declared
            .entry(role)
            .or_default()
            .extend(privs.iter().map(|p| p.as_sql()));
        if !missing.is_empty() {
            out.push(grant(&missing, &on, role));
        }
    }
    if prune_grants(ctx) {
        let owner = db
            .owner
            .clone()
            .or(have.map(|h| h.owner.clone()))
            .unwrap_or_default();
        let mut extra: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (grantee, p) in &acl {
            let Some(g) = grantee.as_deref() else {
                continue;
            };
            let known = DatabasePrivilege::from_sql(p).is_some();
            if known
                && g != owner
                && ctx.managed(g)
                && !declared.get(g).is_some_and(|d| d.contains(p.as_str()))
            {
                extra.entry(g).or_default().push(p);
            }
        }
        out.extend(extra.into_iter().map(|(g, privs)| revoke(&privs, &on, g)));
    }
    out
}

/// The roles whose future objects a grant's default privileges cover.
fn default_roles(
    ctx: &Ctx<'_>,
    schema: &DesiredSchema,
    have_owner: Option<&str>,
    g: &super::desired::DesiredSchemaGrant,
) -> Vec<String> {
    let mut roles = g.default_for.clone();
    if g.default_for_owner {
        let owner = schema
            .owner
            .as_deref()
            .or(have_owner)
            .unwrap_or(&ctx.observed.current_user);
        roles.push(owner.to_owned());
    }
    roles
}

/// What one role should hold in one schema (the union of its grants there).
#[derive(Default)]
struct Wanted<'a> {
    schema: BTreeSet<&'a str>,
    relations: BTreeMap<RelationKind, BTreeSet<&'a str>>,
    /// (for-role, kind) -> privileges.
    defaults: BTreeMap<(String, RelationKind), BTreeSet<&'a str>>,
}

/// `schemas[].grants`: the schema itself, all its tables and sequences, and defaults.
pub(crate) fn schema_grants(
    ctx: &mut Ctx<'_>,
    db: &DesiredDatabase,
    schema: &DesiredSchema,
    catalog: &DatabaseCatalog,
) -> Vec<Statement> {
    let have = catalog.schemas.get(&schema.name);
    let schema_acl = have.map(|h| h.acl.clone()).unwrap_or_default();
    let q = ident(&schema.name);
    let mut wanted: BTreeMap<&str, Wanted> = BTreeMap::new();
    for g in &schema.grants {
        ctx.need_role(&g.role, &g.at, &["role".into()], || {
            format!(
                "grantee on schema `{}` in database `{}`",
                schema.name, db.name
            )
        });
        let w = wanted.entry(g.role.as_str()).or_default();
        w.schema.extend(g.privileges.iter().map(|p| p.as_sql()));
        w.relations
            .entry(RelationKind::Table)
            .or_default()
            .extend(g.tables.iter().map(|p| p.as_sql()));
        w.relations
            .entry(RelationKind::Sequence)
            .or_default()
            .extend(g.sequences.iter().map(|p| p.as_sql()));
        for role in default_roles(ctx, schema, have.map(|h| h.owner.as_str()), g) {
            // A `default_for` entry, or the owner that `default: true` means.
            let more: Vec<Seg> = match g.default_for.iter().position(|r| *r == role) {
                Some(j) => vec!["default_for".into(), j.into()],
                None => vec!["default".into()],
            };
            ctx.need_role(&role, &g.at, &more, || {
                format!(
                    "default_for on schema `{}` in database `{}`",
                    schema.name, db.name
                )
            });
            for (kind, privs) in [
                (
                    RelationKind::Table,
                    g.tables.iter().map(|p| p.as_sql()).collect::<Vec<_>>(),
                ),
                (
                    RelationKind::Sequence,
                    g.sequences.iter().map(|p| p.as_sql()).collect(),
                ),
            ] {
                if !privs.is_empty() {
                    w.defaults
                        .entry((role.clone(), kind))
                        .or_default()
                        .extend(privs);
                }
            }
        }
    }

    let mut out = Vec::new();
    let relations: Vec<_> = catalog
        .relations
        .iter()
        .filter(|r| r.schema == schema.name)
        .collect();
    for (role, w) in &wanted {
        let missing: Vec<&str> = w
            .schema
            .iter()
            .copied()
            .filter(|p| !acl_has(&schema_acl, role, p))
            .collect();
        if !missing.is_empty() {
            out.push(grant(&missing, &format!("SCHEMA {q}"), role));
        }
        for (kind, privs) in &w.relations {
            let missing: Vec<&str> = privs
                .iter()
                .copied()
                .filter(|p| {
                    relations
                        .iter()
                        .any(|r| r.kind == *kind && !acl_has(&r.acl, role, p))
                })
                .collect();
            if !missing.is_empty() {
                out.push(grant(
                    &missing,
                    &format!("ALL {} IN SCHEMA {q}", kind_plural(*kind)),
                    role,
                ));
            }
        }
        for ((for_role, kind), privs) in &w.defaults {
            let missing: Vec<&str> = privs
                .iter()
                .copied()
                .filter(|p| {
                    !catalog.default_acl.iter().any(|d| {
                        &d.role == for_role
                            && d.schema == schema.name
                            && d.kind == *kind
                            && d.grantee.as_deref() == Some(*role)
                            && d.privilege == *p
                    })
                })
                .collect();
            if !missing.is_empty() {
                out.push(Statement::Sql(format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {q} GRANT {} ON {} TO {}",
                    ident(for_role),
                    missing.join(", "),
                    kind_plural(*kind),
                    ident(role)
                )));
            }
        }
    }
    if prune_grants(ctx) {
        out.extend(prune_schema(ctx, schema, catalog, &wanted));
    }
    out
}

fn prune_schema(
    ctx: &Ctx<'_>,
    schema: &DesiredSchema,
    catalog: &DatabaseCatalog,
    wanted: &BTreeMap<&str, Wanted>,
) -> Vec<Statement> {
    let q = ident(&schema.name);
    let empty = Wanted::default();
    let want = |g: &str| wanted.get(g).unwrap_or(&empty);
    let mut out = Vec::new();
    let Some(have) = catalog.schemas.get(&schema.name) else {
        return out;
    };
    let owner = schema.owner.as_deref().unwrap_or(&have.owner);
    let mut extra: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (g, p) in &have.acl {
        if let Some(g) = g.as_deref().filter(|g| *g != owner && ctx.managed(g)) {
            if SchemaPrivilege::from_sql(p).is_some() && !want(g).schema.contains(p.as_str()) {
                extra.entry(g).or_default().insert(p);
            }
        }
    }
    for (g, privs) in extra {
        out.push(revoke(
            &privs.into_iter().collect::<Vec<_>>(),
            &format!("SCHEMA {q}"),
            g,
        ));
    }
    let mut extra: BTreeMap<(&str, RelationKind), BTreeSet<&str>> = BTreeMap::new();
    for r in catalog.relations.iter().filter(|r| r.schema == schema.name) {
        for (g, p) in &r.acl {
            if let Some(g) = g.as_deref().filter(|g| *g != r.owner && ctx.managed(g)) {
                let known = match r.kind {
                    RelationKind::Table => TablePrivilege::from_sql(p).is_some(),
                    RelationKind::Sequence => SequencePrivilege::from_sql(p).is_some(),
                };
                if known
                    && !want(g)
                        .relations
                        .get(&r.kind)
                        .is_some_and(|w| w.contains(p.as_str()))
                {
                    extra.entry((g, r.kind)).or_default().insert(p);
                }
            }
        }
    }
    for ((g, kind), privs) in extra {
        let privs: Vec<&str> = privs.into_iter().collect();
        out.push(revoke(
            &privs,
            &format!("ALL {} IN SCHEMA {q}", kind_plural(kind)),
            g,
        ));
    }
    let mut extra: BTreeMap<(&str, &str, RelationKind), Vec<&str>> = BTreeMap::new();
    for d in catalog
        .default_acl
        .iter()
        .filter(|d| d.schema == schema.name)
    {
        if let Some(g) = d
            .grantee
            .as_deref()
            .filter(|g| *g != d.role && ctx.managed(g))
        {
            let keep = want(g)
                .defaults
                .get(&(d.role.clone(), d.kind))
                .is_some_and(|w| w.contains(d.privilege.as_str()));
            if !keep {
                extra
                    .entry((d.role.as_str(), g, d.kind))
                    .or_default()
                    .push(&d.privilege);
            }
        }
    }
    for ((for_role, g, kind), privs) in extra {
        out.push(Statement::Sql(format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {q} REVOKE {} ON {} FROM {}",
            ident(for_role),
            privileges::join(&privs),
            kind_plural(kind),
            ident(g)
        )));
    }
    out
}

fn kind_plural(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Table => "TABLES",
        RelationKind::Sequence => "SEQUENCES",
    }
}

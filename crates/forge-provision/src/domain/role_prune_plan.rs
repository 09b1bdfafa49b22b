//! Dropping the roles the file does not list (`prune: {roles: true}` and
//! `--allow-prune`).
//!
//! `DROP ROLE` fails while the role owns a database or objects, or holds
//! privileges, anywhere in the cluster. The planner knows this beforehand
//! from `pg_shdepend` (every database) and `pg_database.datdba`: such a role
//! is a problem, reported with the others before any change, unless
//! `prune.reassign_owned_to` names the role that takes its objects over.
//! Then, in each database where it has dependencies (each database's own
//! transaction), `REASSIGN OWNED BY role TO target; DROP OWNED BY role;`
//! runs first; in the connected database (and for a role that has only
//! shared objects: databases, tablespaces) in the same transaction as the
//! `DROP ROLE`s.

use super::catalog::{DependencyKind, RoleDependency};
use super::plan::{Plan, Statement};
use super::plan_context::Ctx;
use super::sql::ident;
use forge_core::yaml_error::Seg;
use std::collections::{BTreeMap, BTreeSet};

/// Whether pruning would drop the existing role `name`: never superusers,
/// `pg_*` roles, the connecting role, or the roles the file declares.
/// What keeps one role from being dropped, once the rest of the plan has run.
#[derive(Debug, Default)]
struct Blockers {
    /// Databases it still owns (neither dropped nor given another `owner:`).
    owned_databases: Vec<String>,
    /// Per database (`None`: shared objects), what it owns or holds there.
    places: BTreeMap<Option<String>, Vec<String>>,
}

impl Blockers {
    fn is_empty(&self) -> bool {
        self.owned_databases.is_empty() && self.places.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.owned_databases.is_empty() {
            let names: Vec<String> = self
                .owned_databases
                .iter()
                .map(|d| format!("`{d}`"))
                .collect();
            let s = if names.len() == 1 { "" } else { "s" };
            parts.push(format!("it owns database{s} {}", names.join(", ")));
        }
        // Databases first, then shared objects (`None` sorts first in the map).
        let (shared, in_databases): (Vec<_>, Vec<_>) =
            self.places.iter().partition(|(p, _)| p.is_none());
        for (place, what) in in_databases.into_iter().chain(shared) {
            let place = match place {
                Some(d) => format!("in database `{d}` it"),
                None => "on shared objects it".to_owned(),
            };
            parts.push(format!("{place} {}", what.join(", ")));
        }
        parts.join("; ")
    }
}

fn noun(class: &str, n: i64) -> String {
    let (one, many) = match class {
        "pg_class" => ("table, view or sequence", "tables, views or sequences"),
        "pg_namespace" => ("schema", "schemas"),
        "pg_proc" => ("function", "functions"),
        "pg_type" => ("type", "types"),
        "pg_database" => ("database", "databases"),
        "pg_tablespace" => ("tablespace", "tablespaces"),
        "pg_largeobject_metadata" => ("large object", "large objects"),
        "pg_auth_members" => ("role membership", "role memberships"),
        "pg_parameter_acl" => ("parameter", "parameters"),
        other => return format!("{n} object{} of {other}", if n == 1 { "" } else { "s" }),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

fn phrase(d: &RoleDependency) -> String {
    match (d.kind, d.class.as_str(), &d.object) {
        (DependencyKind::Owner, "pg_default_acl", _) => format!(
            "sets default privileges ({} entr{})",
            d.count,
            if d.count == 1 { "y" } else { "ies" }
        ),
        (DependencyKind::Privileges, "pg_default_acl", _) => format!(
            "is a grantee of default privileges ({} entr{})",
            d.count,
            if d.count == 1 { "y" } else { "ies" }
        ),
        (DependencyKind::Owner, class, _) => format!("owns {}", noun(class, d.count)),
        (DependencyKind::Privileges, "pg_database", Some(db)) => {
            format!("has privileges on database `{db}`")
        }
        (DependencyKind::Privileges, class, _) => {
            format!("has privileges on {}", noun(class, d.count))
        }
        (DependencyKind::Policy, _, _) => format!(
            "is named in {} row-level security polic{}",
            d.count,
            if d.count == 1 { "y" } else { "ies" }
        ),
        (DependencyKind::InitialPrivileges, class, _) => {
            format!("has initial privileges on {}", noun(class, d.count))
        }
    }
}

fn blockers(ctx: &Ctx<'_>, role: &str, dropped_databases: &BTreeSet<String>) -> Blockers {
    let o = ctx.observed;
    let mut b = Blockers::default();
    for (name, db) in &o.databases {
        let declared = ctx.desired.databases.iter().find(|d| &d.name == name);
        let owner_after = declared
            .and_then(|d| d.owner.as_deref())
            .unwrap_or(&db.owner);
        if owner_after == role && !dropped_databases.contains(name) {
            b.owned_databases.push(name.clone());
        }
    }
    let mut deps: Vec<&RoleDependency> = o
        .role_dependencies
        .get(role)
        .into_iter()
        .flatten()
        .collect();
    deps.sort_by(|a, b| (a.kind, &a.class, &a.object).cmp(&(b.kind, &b.class, &b.object)));
    for d in deps {
        let gone = |db: &Option<String>| db.as_ref().is_some_and(|n| dropped_databases.contains(n));
        // Database ownership is read from pg_database, with the plan's `owner:` changes.
        let database_owner = d.kind == DependencyKind::Owner && d.class == "pg_database";
        if gone(&d.database) || gone(&d.object) || (d.database.is_none() && database_owner) {
            continue;
        }
        b.places
            .entry(d.database.clone())
            .or_default()
            .push(phrase(d));
    }
    b
}

fn reassign(role: &str, target: &str) -> [Statement; 2] {
    [
        Statement::Sql(format!(
            "REASSIGN OWNED BY {} TO {}",
            ident(role),
            ident(target)
        )),
        Statement::Sql(format!("DROP OWNED BY {}", ident(role))),
    ]
}

/// Checks `prune.reassign_owned_to`: it must exist or be declared, and not
/// be pruned itself (checked even without `--allow-prune`: the spec is wrong).
pub(crate) fn check_target(ctx: &mut Ctx<'_>) {
    let Some(target) = ctx
        .desired
        .prune
        .reassign_owned_to
        .as_ref()
        .map(|t| t.0.clone())
    else {
        return;
    };
    let at: [Seg; 2] = ["prune".into(), "reassign_owned_to".into()];
    let used_by = || "prune.reassign_owned_to".to_owned();
    if ctx.prune_roles() || !ctx.observed.has_role(&target) {
        ctx.need_role(&target, &at, &[], used_by);
    } else if ctx.droppable(&target) {
        ctx.problem(
            &at,
            &[],
            format!("role `{target}` ({}) is not declared under roles:, so prune would drop it; declare it", used_by()),
        );
    }
}

/// The `DROP ROLE`s, preceded where needed by `REASSIGN OWNED` / `DROP OWNED`.
pub(crate) fn drop_roles(ctx: &mut Ctx<'_>, plan: &mut Plan, dropped_databases: &BTreeSet<String>) {
    if !ctx.prune_roles() {
        return;
    }
    let o = ctx.observed;
    let roles: Vec<&String> = o.roles.keys().filter(|n| ctx.droppable(n)).collect();
    let target = ctx
        .desired
        .prune
        .reassign_owned_to
        .as_ref()
        .map(|t| t.0.clone());
    let mut per_database: BTreeMap<String, Vec<Statement>> = BTreeMap::new();
    let mut last = Vec::new();
    for role in &roles {
        let b = blockers(ctx, role, dropped_databases);
        if b.is_empty() {
            continue;
        }
        let Some(target) = &target else {
            let message = format!(
                "role `{role}` cannot be dropped: {}. Set prune.reassign_owned_to to the role that takes them over \
                 (REASSIGN OWNED, then DROP OWNED, in each of those databases), or move them first",
                b.describe()
            );
            ctx.problem(&["prune".into(), "roles".into()], &[], message);
            continue;
        };
        // REASSIGN OWNED and DROP OWNED also cover shared objects (databases,
        // tablespaces), so those need the connected database only when no
        // other database's phase runs them.
        let mut elsewhere = false;
        let mut in_connected = false;
        for place in b.places.keys() {
            match place {
                Some(db) if *db != o.current_database => {
                    per_database
                        .entry(db.clone())
                        .or_default()
                        .extend(reassign(role, target));
                    elsewhere = true;
                }
                Some(_) => in_connected = true,
                None => {}
            }
        }
        let shared = !b.owned_databases.is_empty() || b.places.contains_key(&None);
        in_connected |= shared && !elsewhere;
        if in_connected {
            last.extend(reassign(role, target));
        }
    }
    for (db, statements) in per_database {
        plan.push(Some(&db), true, statements);
    }
    last.extend(
        roles
            .iter()
            .map(|name| Statement::Sql(format!("DROP ROLE {}", ident(name)))),
    );
    plan.push(None, true, last);
}

#[cfg(test)]
#[path = "role_prune_plan_tests.rs"]
mod tests;

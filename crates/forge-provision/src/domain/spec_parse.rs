//! Reading a spec file: YAML errors with file, line, column and a "did you
//! mean" for unknown keys and keywords, then checks across entries, then the
//! normalized [`Desired`] state.

use super::desired::{
    Desired, DesiredCdc, DesiredDatabase, DesiredRole, DesiredSchema, DesiredSchemaGrant,
    RoleAttrs, Source,
};
use super::privileges::{DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege};
use super::secret_ref::{one_password, with_source, SecretSource};
use super::secret_ref::{EnvSecret, FileSecret, InlineSecret};
use super::spec::{Name, PostgresSpec, RoleSpec};
use forge_core::yaml_error::{locate, Seg};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A spec file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The YAML does not fit the spec's shape.
    #[error("{file}:{line}:{column}: {message}{}", help(suggestion))]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
        suggestion: Option<String>,
    },
    /// The entries contradict each other; the place is the offending entry
    /// or field (for a name declared twice, the second declaration).
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A check across entries that failed: where (a path into the YAML) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub path: Vec<Seg>,
    pub message: String,
}

/// A YAML path from keys and indexes: `at!["roles", i, "name"]`.
macro_rules! at {
    ($($seg:expr),* $(,)?) => {
        vec![$(forge_core::yaml_error::Seg::from($seg)),*]
    };
}
pub(crate) use at;

pub(crate) fn invalid(path: Vec<Seg>, message: impl Into<String>) -> Invalid {
    Invalid {
        path,
        message: message.into(),
    }
}

impl Invalid {
    /// Placed on its line and column in `text` (read from `file`).
    pub(crate) fn in_file(self, text: &str, file: &str) -> SpecError {
        let (line, column) = locate(text, &self.path);
        SpecError::Invalid {
            file: file.to_owned(),
            line,
            column,
            message: self.message,
        }
    }
}

fn help(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("\n  help: did you mean `{s}`?"),
        None => String::new(),
    }
}

/// Parses `text` (read from `file`, which only names it in errors).
pub fn parse_spec(
    text: &str,
    file: &str,
    secrets: Arc<dyn SecretSource>,
) -> Result<PostgresSpec, SpecError> {
    with_source(secrets, || serde_yaml_ng::from_str::<PostgresSpec>(text))
        .map_err(|e| syntax_error(&e, file))
}

/// Parses and checks a spec into the state the planner wants.
pub fn parse(
    text: &str,
    file: &str,
    secrets: Arc<dyn SecretSource>,
) -> Result<(PostgresSpec, Desired), SpecError> {
    let mut spec = parse_spec(text, file, secrets)?;
    let mut desired = normalize(&mut spec).map_err(|e| e.in_file(text, file))?;
    desired.source = Source {
        file: file.to_owned(),
        text: text.to_owned(),
    };
    Ok((spec, desired))
}

pub(crate) fn syntax_error(e: &serde_yaml_ng::Error, file: &str) -> SpecError {
    let l = forge_core::yaml_error::locate_error(e);
    SpecError::Syntax {
        file: file.to_owned(),
        line: l.line,
        column: l.column,
        message: l.message,
        suggestion: l.suggestion,
    }
}

/// A name given twice, placed at its second declaration (`at(index)`).
pub(crate) fn duplicates<'a>(
    names: impl IntoIterator<Item = &'a str>,
    what: &str,
    at: impl Fn(usize) -> Vec<Seg>,
) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for (i, n) in names.into_iter().enumerate() {
        if !seen.insert(n) {
            return Err(invalid(at(i), format!("{what} `{n}` is declared twice")));
        }
    }
    Ok(())
}

/// The password keys given, in field order (to place "only one of" on the second).
fn password_keys(
    inline: &Option<InlineSecret>,
    env: &Option<EnvSecret>,
    file: &Option<FileSecret>,
) -> Vec<&'static str> {
    [
        (inline.is_some(), "password"),
        (env.is_some(), "password_env"),
        (file.is_some(), "password_file"),
    ]
    .into_iter()
    .filter_map(|(given, key)| given.then_some(key))
    .collect()
}

fn role_attrs(r: &RoleSpec) -> RoleAttrs {
    RoleAttrs {
        login: r.login,
        superuser: r.superuser,
        createdb: r.createdb,
        createrole: r.createrole,
        inherit: r.inherit,
        replication: r.replication,
        bypassrls: r.bypassrls,
        connection_limit: r.connection_limit,
    }
}

fn normalize(spec: &mut PostgresSpec) -> Result<Desired, Invalid> {
    duplicates(spec.roles.iter().map(|r| r.name.as_str()), "role", |i| {
        at!["roles", i, "name"]
    })?;
    duplicates(
        spec.databases.iter().map(|d| d.name.as_str()),
        "database",
        |i| at!["databases", i, "name"],
    )?;
    duplicates(
        spec.cdc.iter().map(|c| c.slot.0.as_str()),
        "replication slot",
        |i| at!["cdc", i, "slot"],
    )?;
    if let Some(c) = &spec.connection {
        one_password(&c.password, &c.password_env, &c.password_file).map_err(|e| {
            let keys = password_keys(&c.password, &c.password_env, &c.password_file);
            invalid(at!["connection", keys[1]], format!("connection: {e}"))
        })?;
    }
    if let (Some(target), false) = (&spec.prune.reassign_owned_to, spec.prune.roles) {
        return Err(invalid(
            at!["prune", "reassign_owned_to"],
            format!("prune: reassign_owned_to `{target}` needs roles: true (it only applies to roles being dropped)"),
        ));
    }
    let mut roles = Vec::new();
    for (i, r) in spec.roles.iter().enumerate() {
        let password =
            one_password(&r.password, &r.password_env, &r.password_file).map_err(|e| {
                let keys = password_keys(&r.password, &r.password_env, &r.password_file);
                invalid(
                    at!["roles", i, keys[1]],
                    format!("roles[{i}] `{}`: {e}", r.name),
                )
            })?;
        if let Some(l) = r.connection_limit.filter(|l| *l < -1) {
            return Err(invalid(
                at!["roles", i, "connection_limit"],
                format!("roles[{i}] `{}`: connection_limit {l} is below -1", r.name),
            ));
        }
        if let Some(j) = r.member_of.iter().position(|m| *m == r.name) {
            return Err(invalid(
                at!["roles", i, "member_of", j],
                format!(
                    "roles[{i}] `{}`: a role cannot be a member of itself",
                    r.name
                ),
            ));
        }
        roles.push(DesiredRole {
            name: r.name.0.clone(),
            attrs: role_attrs(r),
            member_of: r.member_of.iter().map(|m| m.0.clone()).collect(),
            password,
            at: at!["roles", i],
            member_of_at: index_of(&r.member_of),
        });
    }
    let mut cdc = Vec::new();
    for (i, c) in spec.cdc.iter().enumerate() {
        let at = format!("cdc[{i}] (slot `{}`)", c.slot.0);
        let keys = password_keys(&c.password, &c.password_env, &c.password_file);
        let password = one_password(&c.password, &c.password_env, &c.password_file)
            .map_err(|e| invalid(at!["cdc", i, keys[1]], format!("{at}: {e}")))?;
        match roles.iter().position(|r| r.name == c.role.0) {
            Some(ri) => {
                let role = &mut roles[ri];
                for (flag, what) in [
                    (role.attrs.login, "login"),
                    (role.attrs.replication, "replication"),
                ] {
                    if flag == Some(false) {
                        // Only roles from roles: can say false (CDC roles say true).
                        return Err(invalid(
                            at!["roles", ri, what],
                            format!(
                                "{at}: role `{}` is the CDC role but sets {what}: false",
                                c.role
                            ),
                        ));
                    }
                }
                role.attrs.login = Some(true);
                role.attrs.replication = Some(true);
                match (&role.password, password) {
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            at!["cdc", i, keys[0]],
                            format!(
                                "{at}: role `{}` has a password in roles: and in cdc:",
                                c.role
                            ),
                        ))
                    }
                    (None, p) => role.password = p,
                    (Some(_), None) => {}
                }
            }
            None => roles.push(DesiredRole {
                name: c.role.0.clone(),
                attrs: RoleAttrs {
                    login: Some(true),
                    replication: Some(true),
                    ..RoleAttrs::default()
                },
                member_of: BTreeSet::new(),
                password,
                at: at!["cdc", i, "role"],
                member_of_at: BTreeMap::new(),
            }),
        }
        cdc.push(DesiredCdc {
            database: c.database.0.clone(),
            role: c.role.0.clone(),
            publication: c.publication.0.clone(),
            tables: c.tables.clone(),
            slot: c.slot.0.clone(),
            plugin: c.plugin.clone(),
            at: at!["cdc", i],
        });
    }
    let mut pubs = BTreeSet::new();
    for (i, c) in cdc.iter().enumerate() {
        if !pubs.insert((c.database.as_str(), c.publication.as_str())) {
            return Err(invalid(
                at!["cdc", i, "publication"],
                format!(
                    "publication `{}` in database `{}` is declared twice",
                    c.publication, c.database
                ),
            ));
        }
    }
    let mut databases = Vec::new();
    for (di, d) in spec.databases.iter().enumerate() {
        duplicates(
            d.schemas.iter().map(|s| s.name.as_str()),
            &format!("database `{}`: schema", d.name),
            |i| at!["databases", di, "schemas", i, "name"],
        )?;
        let schemas = d
            .schemas
            .iter()
            .enumerate()
            .map(|(si, s)| DesiredSchema {
                name: s.name.0.clone(),
                owner: s.owner.as_ref().map(|o| o.0.clone()),
                grants: s
                    .grants
                    .iter()
                    .enumerate()
                    .map(|(gi, g)| DesiredSchemaGrant {
                        role: g.role.0.clone(),
                        privileges: SchemaPrivilege::expand(&g.privileges),
                        tables: TablePrivilege::expand(&g.tables),
                        sequences: SequencePrivilege::expand(&g.sequences),
                        default_for: if g.default {
                            g.default_for.iter().map(|r| r.0.clone()).collect()
                        } else {
                            vec![]
                        },
                        default_for_owner: g.default && g.default_for.is_empty(),
                        at: at!["databases", di, "schemas", si, "grants", gi],
                    })
                    .collect(),
                at: at!["databases", di, "schemas", si],
            })
            .collect();
        databases.push(DesiredDatabase {
            name: d.name.0.clone(),
            owner: d.owner.as_ref().map(|o| o.0.clone()),
            extensions: d.extensions.iter().map(|e| e.0.clone()).collect(),
            grants: d
                .grants
                .iter()
                .map(|g| (g.role.0.clone(), DatabasePrivilege::expand(&g.privileges)))
                .collect(),
            schemas,
            at: at!["databases", di],
            extensions_at: index_of(&d.extensions),
        });
    }
    Ok(Desired {
        roles,
        databases,
        cdc,
        prune: spec.prune.clone(),
        source: Source::default(),
    })
}

/// Each name's (first) index in a list.
fn index_of(names: &[Name]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        out.entry(n.0.clone()).or_insert(i);
    }
    out
}

#[cfg(test)]
#[path = "spec_parse_tests.rs"]
mod tests;

//! Reading a spec file: YAML errors with file, line, column and a "did you
//! mean" for unknown keys and keywords, then checks across entries, then the
//! normalized [`Desired`] state.

use super::desired::{
    Desired, DesiredCdc, DesiredDatabase, DesiredRole, DesiredSchema, DesiredSchemaGrant, RoleAttrs,
};
use super::privileges::{DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege};
use super::secret_ref::{one_password, with_source, SecretSource};
use super::spec::{PostgresSpec, RoleSpec};
use std::collections::BTreeSet;
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
    /// The entries contradict each other.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
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
    let desired = normalize(&mut spec).map_err(|message| SpecError::Invalid {
        file: file.to_owned(),
        message,
    })?;
    Ok((spec, desired))
}

pub(crate) fn syntax_error(e: &serde_yaml_ng::Error, file: &str) -> SpecError {
    let l = forge::domain::yaml_error::locate_error(e);
    SpecError::Syntax {
        file: file.to_owned(),
        line: l.line,
        column: l.column,
        message: l.message,
        suggestion: l.suggestion,
    }
}

pub(crate) fn duplicates<'a>(
    names: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(format!("{what} `{n}` is declared twice"));
        }
    }
    Ok(())
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

fn normalize(spec: &mut PostgresSpec) -> Result<Desired, String> {
    duplicates(spec.roles.iter().map(|r| r.name.as_str()), "role")?;
    duplicates(spec.databases.iter().map(|d| d.name.as_str()), "database")?;
    duplicates(
        spec.cdc.iter().map(|c| c.slot.0.as_str()),
        "replication slot",
    )?;
    if let Some(c) = &spec.connection {
        one_password(&c.password, &c.password_env, &c.password_file)
            .map_err(|e| format!("connection: {e}"))?;
    }
    let mut roles = Vec::new();
    for (i, r) in spec.roles.iter().enumerate() {
        let password = one_password(&r.password, &r.password_env, &r.password_file)
            .map_err(|e| format!("roles[{i}] `{}`: {e}", r.name))?;
        if let Some(l) = r.connection_limit.filter(|l| *l < -1) {
            return Err(format!(
                "roles[{i}] `{}`: connection_limit {l} is below -1",
                r.name
            ));
        }
        if r.member_of.contains(&r.name) {
            return Err(format!(
                "roles[{i}] `{}`: a role cannot be a member of itself",
                r.name
            ));
        }
        roles.push(DesiredRole {
            name: r.name.0.clone(),
            attrs: role_attrs(r),
            member_of: r.member_of.iter().map(|m| m.0.clone()).collect(),
            password,
        });
    }
    let mut cdc = Vec::new();
    for (i, c) in spec.cdc.iter().enumerate() {
        let at = format!("cdc[{i}] (slot `{}`)", c.slot.0);
        let password = one_password(&c.password, &c.password_env, &c.password_file)
            .map_err(|e| format!("{at}: {e}"))?;
        match roles.iter_mut().find(|r| r.name == c.role.0) {
            Some(role) => {
                for (flag, what) in [
                    (role.attrs.login, "login"),
                    (role.attrs.replication, "replication"),
                ] {
                    if flag == Some(false) {
                        return Err(format!(
                            "{at}: role `{}` is the CDC role but sets {what}: false",
                            c.role
                        ));
                    }
                }
                role.attrs.login = Some(true);
                role.attrs.replication = Some(true);
                match (&role.password, password) {
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "{at}: role `{}` has a password in roles: and in cdc:",
                            c.role
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
            }),
        }
        cdc.push(DesiredCdc {
            database: c.database.0.clone(),
            role: c.role.0.clone(),
            publication: c.publication.0.clone(),
            tables: c.tables.clone(),
            slot: c.slot.0.clone(),
            plugin: c.plugin.clone(),
        });
    }
    let mut pubs = BTreeSet::new();
    for c in &cdc {
        if !pubs.insert((c.database.as_str(), c.publication.as_str())) {
            return Err(format!(
                "publication `{}` in database `{}` is declared twice",
                c.publication, c.database
            ));
        }
    }
    let mut databases = Vec::new();
    for d in &spec.databases {
        duplicates(
            d.schemas.iter().map(|s| s.name.as_str()),
            &format!("database `{}`: schema", d.name),
        )?;
        let schemas = d
            .schemas
            .iter()
            .map(|s| DesiredSchema {
                name: s.name.0.clone(),
                owner: s.owner.as_ref().map(|o| o.0.clone()),
                grants: s
                    .grants
                    .iter()
                    .map(|g| DesiredSchemaGrant {
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
                    })
                    .collect(),
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
        });
    }
    Ok(Desired {
        roles,
        databases,
        cdc,
        prune: spec.prune,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret_ref::tests::MapSource;

    fn source() -> Arc<dyn SecretSource> {
        let mut s = MapSource::default();
        s.vars.insert("APP_PASSWORD".into(), "pw".into());
        Arc::new(s)
    }

    #[test]
    fn unknown_key_has_location_and_suggestion() {
        let text = "roles:\n  - name: app\n    logn: true\n";
        let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
        assert!(
            err.starts_with("pg.yaml:3:5: roles[0]: unknown field `logn`"),
            "{err}"
        );
        assert!(err.ends_with("help: did you mean `login`?"), "{err}");
    }

    #[test]
    fn unknown_privilege_is_suggested() {
        let text = "databases:\n  - name: a\n    schemas:\n      - name: s\n        grants:\n          - role: r\n            tables: [SELECT, insert]\n";
        let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
        assert!(err.starts_with("pg.yaml:7:"), "{err}");
        assert!(err.contains("did you mean `INSERT`?"), "{err}");
    }

    #[test]
    fn missing_secret_names_the_place() {
        let text = "roles:\n  - name: app\n    password_env: NOT_SET_ANYWHERE\n";
        let err = parse(text, "pg.yaml", source()).unwrap_err().to_string();
        assert!(err.starts_with("pg.yaml:3:19:"), "{err}");
        assert!(
            err.contains("environment variable NOT_SET_ANYWHERE is not set"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../examples/provision/postgres.yaml");
        let mut s = MapSource::default();
        s.vars.insert("APP_PASSWORD".into(), "a".into());
        s.vars.insert("CDC_PASSWORD".into(), "c".into());
        let (_, d) = parse(text, "postgres.yaml", Arc::new(s)).unwrap();
        assert_eq!(d.roles.len(), 3);
        assert_eq!(d.cdc.len(), 1);
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        for text in [
            "roles:\n  - {name: a, password: 8675309}\n",
            "roles:\n  - {name: a, password: \"${APP_PASSWORD}\", bogus: 1}\n",
        ] {
            let err = parse(text, "f.yaml", source()).unwrap_err().to_string();
            assert!(!err.contains("8675309") && !err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn cdc_role_is_merged_with_login_and_replication() {
        let text = "roles:\n  - name: cdc\ncdc:\n  - {database: app, role: cdc, password_env: APP_PASSWORD, publication: p, tables: all, slot: s}\n";
        let (_, d) = parse(text, "pg.yaml", source()).unwrap();
        let r = d.role("cdc").unwrap();
        assert_eq!(
            (r.attrs.login, r.attrs.replication),
            (Some(true), Some(true))
        );
        assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
    }

    #[test]
    fn contradictions_are_errors() {
        for (text, want) in [
            ("roles:\n  - {name: a, password: hunter2}\n", "plain passwords do not belong"),
            ("roles:\n  - {name: a, password: 8675309}\n", "plain passwords do not belong"),
            (
                "roles:\n  - name: a\n  - name: a\n",
                "role `a` is declared twice",
            ),
            (
                "roles:\n  - {name: a, password: \"${APP_PASSWORD}\", password_env: APP_PASSWORD}\n",
                "only one of",
            ),
            (
                "roles:\n  - {name: a, member_of: [a]}\n",
                "member of itself",
            ),
            ("roles:\n  - name: \"\"\n", "the name is empty"),
            (
                "cdc:\n  - {database: d, role: r, publication: p, tables: all, slot: Bad}\n",
                "invalid slot name",
            ),
        ] {
            let err = parse(text, "f.yaml", source()).unwrap_err().to_string();
            assert!(err.contains(want), "{text} -> {err}");
        }
    }
}

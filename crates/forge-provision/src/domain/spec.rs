//! The desired state, as written in the YAML file (see `provision/README.md`).
//! Unknown keys are errors; names are checked as identifiers while reading,
//! so errors carry a line and column.

use super::privileges::{DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege};
use super::secret_ref::{map_str, EnvSecret, Expanded, FileSecret, InlineSecret, SecretUrl};
use super::sql::identifier_problem;
use serde::{Deserialize, Deserializer};
use std::fmt;

/// The whole `postgres` spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// How to reach the server; `DATABASE_URL` when absent.
    pub connection: Option<ConnectionSpec>,
    /// Which sections may drop or revoke what the file does not list
    /// (takes effect only with `--allow-prune`).
    #[serde(default)]
    pub prune: PruneSpec,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub databases: Vec<DatabaseSpec>,
    #[serde(default)]
    pub cdc: Vec<CdcSpec>,
}

/// `connection:`. Every string may use `${ENV}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// A full `postgres://` URL or `key=value` string (it may hold a
    /// password, so it is kept as a secret); the other fields override it.
    pub url: Option<SecretUrl>,
    pub host: Option<Expanded>,
    pub port: Option<u16>,
    pub user: Option<Expanded>,
    pub database: Option<Expanded>,
    pub sslmode: Option<SslMode>,
    pub password: Option<InlineSecret>,
    pub password_env: Option<EnvSecret>,
    pub password_file: Option<FileSecret>,
}

/// TLS use, as libpq names it: `prefer` and `require` do not check the
/// certificate (as in libpq); `verify-full` checks it and the host name
/// against the system's trusted roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

/// `prune:`: one switch per section.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneSpec {
    /// Drop roles the file does not list (never superusers, `pg_*`, or the connecting role).
    #[serde(default)]
    pub roles: bool,
    /// Revoke memberships of listed roles that `member_of` does not list.
    #[serde(default)]
    pub memberships: bool,
    /// Drop databases the file does not list (never templates, `postgres`, or the connected one).
    #[serde(default)]
    pub databases: bool,
    /// Drop schemas of listed databases that the file does not list (not `public`).
    #[serde(default)]
    pub schemas: bool,
    /// Drop extensions of listed databases that the file does not list (not `plpgsql`).
    #[serde(default)]
    pub extensions: bool,
    /// Revoke privileges of listed roles on listed databases and schemas that the file does not grant.
    #[serde(default)]
    pub grants: bool,
    /// Before dropping a role that owns objects or holds privileges, run
    /// `REASSIGN OWNED BY role TO this; DROP OWNED BY role` in each database
    /// where it does (needs `roles: true`). Without it such a role is a problem.
    pub reassign_owned_to: Option<Name>,
}

/// One entry of `roles:`. Attributes left out are left alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: Name,
    pub login: Option<bool>,
    pub superuser: Option<bool>,
    pub createdb: Option<bool>,
    pub createrole: Option<bool>,
    pub inherit: Option<bool>,
    pub replication: Option<bool>,
    pub bypassrls: Option<bool>,
    pub connection_limit: Option<i32>,
    #[serde(default)]
    pub member_of: Vec<Name>,
    pub password: Option<InlineSecret>,
    pub password_env: Option<EnvSecret>,
    pub password_file: Option<FileSecret>,
}

/// One entry of `databases:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    pub name: Name,
    pub owner: Option<Name>,
    #[serde(default)]
    pub extensions: Vec<Name>,
    #[serde(default)]
    pub grants: Vec<DatabaseGrant>,
    #[serde(default)]
    pub schemas: Vec<SchemaSpec>,
}

/// `databases[].grants[]`: privileges on the database itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseGrant {
    pub role: Name,
    pub privileges: Vec<DatabasePrivilege>,
}

/// `databases[].schemas[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaSpec {
    pub name: Name,
    pub owner: Option<Name>,
    #[serde(default)]
    pub grants: Vec<SchemaGrant>,
}

/// `schemas[].grants[]`: privileges on the schema, on all its tables and
/// sequences, and (with `default: true`) on those created later.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaGrant {
    pub role: Name,
    #[serde(default)]
    pub privileges: Vec<SchemaPrivilege>,
    #[serde(default)]
    pub tables: Vec<TablePrivilege>,
    #[serde(default)]
    pub sequences: Vec<SequencePrivilege>,
    /// Also set default privileges for objects created later.
    #[serde(default)]
    pub default: bool,
    /// The roles whose future objects `default` covers; the schema owner when empty.
    #[serde(default)]
    pub default_for: Vec<Name>,
}

/// One entry of `cdc:`: a replication role, a publication and a logical slot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdcSpec {
    pub database: Name,
    pub role: Name,
    pub password: Option<InlineSecret>,
    pub password_env: Option<EnvSecret>,
    pub password_file: Option<FileSecret>,
    pub publication: Name,
    pub tables: PublicationTables,
    pub slot: SlotName,
    /// Output plugin of the slot.
    #[serde(default = "default_plugin")]
    pub plugin: String,
}

fn default_plugin() -> String {
    "pgoutput".into()
}

/// `tables: all` or a list of `schema.table` (schema `public` when left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationTables {
    All,
    List(Vec<(String, String)>),
}

impl<'de> Deserialize<'de> for PublicationTables {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PublicationTables;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`all` or a list of `schema.table` names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "all" {
                    Ok(PublicationTables::All)
                } else {
                    Err(E::custom(format!("expected `all` or a list, found `{v}`")))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    let (schema, table) = item.split_once('.').unwrap_or(("public", &item));
                    for part in [schema, table] {
                        if let Some(p) = identifier_problem(part) {
                            return Err(serde::de::Error::custom(format!("table `{item}`: {p}")));
                        }
                    }
                    out.push((schema.to_owned(), table.to_owned()));
                }
                out.sort();
                out.dedup();
                Ok(PublicationTables::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// An SQL identifier checked while reading (not empty, no NUL, at most 63 bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(pub String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a name", |s| match identifier_problem(s) {
            Some(p) => Err(format!("invalid name `{s}`: {p}")),
            None => Ok(Name(s.to_owned())),
        })
    }
}

/// A replication slot name: PostgreSQL allows only `[a-z0-9_]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotName(pub String);

impl<'de> Deserialize<'de> for SlotName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a slot name", |s| {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if ok {
                Ok(SlotName(s.to_owned()))
            } else {
                Err(format!(
                    "invalid slot name `{s}`: use 1 to 63 of a-z, 0-9 and _"
                ))
            }
        })
    }
}

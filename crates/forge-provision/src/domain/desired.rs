//! The checked, normalized desired state the planner works from: names as
//! strings, `ALL` expanded, CDC roles merged into the role list. Each entry
//! keeps its YAML path (`at`), so problems found while planning name
//! `file:line:column`.

use super::privileges::{DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege};
use super::spec::{PruneSpec, PublicationTables};
use forge_core::secret::Secret;
use forge_core::yaml_error::{locate, Seg};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct Desired {
    pub roles: Vec<DesiredRole>,
    pub databases: Vec<DesiredDatabase>,
    pub cdc: Vec<DesiredCdc>,
    pub prune: PruneSpec,
    /// The spec file the entries were read from.
    pub source: Source,
}

/// A spec file's name and text, to turn YAML paths into places.
#[derive(Default)]
pub struct Source {
    pub file: String,
    pub text: String,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)
    }
}

impl Source {
    /// `file:line:column` of the node at `path` (or its nearest ancestor).
    pub fn place(&self, path: &[Seg]) -> String {
        let (line, column) = locate(&self.text, path);
        format!("{}:{line}:{column}", self.file)
    }
}

/// Role attributes; `None` leaves the attribute as it is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoleAttrs {
    pub login: Option<bool>,
    pub superuser: Option<bool>,
    pub createdb: Option<bool>,
    pub createrole: Option<bool>,
    pub inherit: Option<bool>,
    pub replication: Option<bool>,
    pub bypassrls: Option<bool>,
    pub connection_limit: Option<i32>,
}

#[derive(Debug)]
pub struct DesiredRole {
    pub name: String,
    pub attrs: RoleAttrs,
    pub member_of: BTreeSet<String>,
    pub password: Option<Secret>,
    /// `roles[i]`, or `cdc[i].role` for a role only the CDC entry names.
    pub at: Vec<Seg>,
    /// Where each `member_of` entry is listed (its index).
    pub member_of_at: BTreeMap<String, usize>,
}

#[derive(Debug)]
pub struct DesiredDatabase {
    pub name: String,
    pub owner: Option<String>,
    pub extensions: BTreeSet<String>,
    /// In file order (`grants[k]`).
    pub grants: Vec<(String, Vec<DatabasePrivilege>)>,
    pub schemas: Vec<DesiredSchema>,
    /// `databases[i]`.
    pub at: Vec<Seg>,
    /// Where each extension is listed (its index).
    pub extensions_at: BTreeMap<String, usize>,
}

#[derive(Debug)]
pub struct DesiredSchema {
    pub name: String,
    pub owner: Option<String>,
    pub grants: Vec<DesiredSchemaGrant>,
    /// `databases[i].schemas[j]`.
    pub at: Vec<Seg>,
}

#[derive(Debug)]
pub struct DesiredSchemaGrant {
    pub role: String,
    pub privileges: Vec<SchemaPrivilege>,
    pub tables: Vec<TablePrivilege>,
    pub sequences: Vec<SequencePrivilege>,
    /// Roles whose future objects get default privileges (empty: none).
    pub default_for: Vec<String>,
    /// `default: true` with no `default_for`: the schema owner's objects.
    pub default_for_owner: bool,
    /// `databases[i].schemas[j].grants[k]`.
    pub at: Vec<Seg>,
}

#[derive(Debug)]
pub struct DesiredCdc {
    pub database: String,
    pub role: String,
    pub publication: String,
    pub tables: PublicationTables,
    pub slot: String,
    pub plugin: String,
    /// `cdc[i]`.
    pub at: Vec<Seg>,
}

impl Desired {
    /// Every database the plan must read: declared ones and CDC targets.
    pub fn database_names(&self) -> BTreeSet<String> {
        self.databases
            .iter()
            .map(|d| d.name.clone())
            .chain(self.cdc.iter().map(|c| c.database.clone()))
            .collect()
    }

    pub fn role(&self, name: &str) -> Option<&DesiredRole> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// `file:line:column` of `at` followed by `more`.
    pub fn place(&self, at: &[Seg], more: &[Seg]) -> String {
        self.source.place(&[at, more].concat())
    }
}

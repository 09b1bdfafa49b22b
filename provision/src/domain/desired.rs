//! The checked, normalized desired state the planner works from: names as
//! strings, `ALL` expanded, CDC roles merged into the role list.

use super::privileges::{DatabasePrivilege, SchemaPrivilege, SequencePrivilege, TablePrivilege};
use super::spec::{PruneSpec, PublicationTables};
use forge::secret::Secret;
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Desired {
    pub roles: Vec<DesiredRole>,
    pub databases: Vec<DesiredDatabase>,
    pub cdc: Vec<DesiredCdc>,
    pub prune: PruneSpec,
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
}

#[derive(Debug)]
pub struct DesiredDatabase {
    pub name: String,
    pub owner: Option<String>,
    pub extensions: BTreeSet<String>,
    pub grants: Vec<(String, Vec<DatabasePrivilege>)>,
    pub schemas: Vec<DesiredSchema>,
}

#[derive(Debug)]
pub struct DesiredSchema {
    pub name: String,
    pub owner: Option<String>,
    pub grants: Vec<DesiredSchemaGrant>,
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
}

#[derive(Debug)]
pub struct DesiredCdc {
    pub database: String,
    pub role: String,
    pub publication: String,
    pub tables: PublicationTables,
    pub slot: String,
    pub plugin: String,
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
}

//! What the server has, as read from its catalogs (one read per kind).
//! The adapter fills these; the planner compares them with the spec.

use forge_core::secret::Secret;
use std::collections::{BTreeMap, BTreeSet};

/// The cluster-wide catalogs plus the per-database ones for every database
/// the spec names that exists.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// `current_user` of the provisioning connection.
    pub current_user: String,
    /// The database the provisioning connection is on.
    pub current_database: String,
    /// `wal_level` setting.
    pub wal_level: String,
    pub roles: BTreeMap<String, RoleState>,
    /// `(role, member)`: `member` is a member of `role`.
    pub memberships: BTreeSet<(String, String)>,
    pub databases: BTreeMap<String, DatabaseState>,
    /// Extensions the server can install (`pg_available_extensions`).
    pub available_extensions: BTreeSet<String>,
    pub slots: BTreeMap<String, SlotState>,
    /// Per-database catalogs, for the spec's databases that exist.
    pub in_database: BTreeMap<String, DatabaseCatalog>,
    /// What each role owns or is granted, cluster-wide (`pg_shdepend`); read
    /// only when the spec prunes roles. Roles without any are absent.
    pub role_dependencies: BTreeMap<String, Vec<RoleDependency>>,
}

/// Why `pg_shdepend` ties objects to a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependencyKind {
    /// `o`: the role owns them.
    Owner,
    /// `a`: the role is named in their ACL (holds privileges).
    Privileges,
    /// `r`: the role is named in a row-level security policy.
    Policy,
    /// `i`: the role is named in their initial privileges (PostgreSQL 17+).
    InitialPrivileges,
}

impl DependencyKind {
    pub fn from_deptype(deptype: &str) -> Option<DependencyKind> {
        match deptype {
            "o" => Some(DependencyKind::Owner),
            "a" => Some(DependencyKind::Privileges),
            "r" => Some(DependencyKind::Policy),
            "i" => Some(DependencyKind::InitialPrivileges),
            _ => None,
        }
    }
}

/// Objects that depend on a role, counted per database, kind and catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDependency {
    /// The database they live in; `None` for shared objects (databases,
    /// tablespaces, ...), which any database's `REASSIGN`/`DROP OWNED` covers.
    pub database: Option<String>,
    pub kind: DependencyKind,
    /// Their catalog: `pg_class`, `pg_namespace`, `pg_default_acl`, `pg_database`, ...
    pub class: String,
    /// For a shared `pg_database` object, the database's name.
    pub object: Option<String>,
    pub count: i64,
}

#[derive(Debug, Clone, Default)]
pub struct RoleState {
    pub login: bool,
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
    pub inherit: bool,
    pub replication: bool,
    pub bypassrls: bool,
    pub connection_limit: i32,
    /// `pg_authid.rolpassword` (a verifier, still kept out of output).
    pub password: Option<Secret>,
}

/// One grantee's privilege from `aclexplode()`; grantee `None` is PUBLIC.
pub type AclEntry = (Option<String>, String);

#[derive(Debug, Clone, Default)]
pub struct DatabaseState {
    pub owner: String,
    pub template: bool,
    pub acl: Vec<AclEntry>,
}

#[derive(Debug, Clone)]
pub struct SlotState {
    pub plugin: Option<String>,
    pub database: Option<String>,
    pub logical: bool,
    pub active: bool,
}

/// Relation kinds that `GRANT ... ON ALL TABLES|SEQUENCES IN SCHEMA` covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RelationKind {
    Table,
    Sequence,
}

#[derive(Debug, Clone)]
pub struct RelationState {
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    pub owner: String,
    pub acl: Vec<AclEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct SchemaState {
    pub owner: String,
    pub acl: Vec<AclEntry>,
}

/// One `pg_default_acl` privilege for objects `role` creates in `schema`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DefaultAclEntry {
    pub role: String,
    pub schema: String,
    pub kind: RelationKind,
    pub grantee: Option<String>,
    pub privilege: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationState {
    pub all_tables: bool,
    pub tables: BTreeSet<(String, String)>,
}

/// The catalogs of one database.
#[derive(Debug, Default)]
pub struct DatabaseCatalog {
    pub extensions: BTreeSet<String>,
    pub schemas: BTreeMap<String, SchemaState>,
    /// Tables and sequences of the spec's schemas.
    pub relations: Vec<RelationState>,
    pub default_acl: Vec<DefaultAclEntry>,
    pub publications: BTreeMap<String, PublicationState>,
}

impl ClusterState {
    /// Whether `role` exists now or will once the plan runs.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }
}

/// Whether `acl` gives `privilege` to `grantee`.
pub fn acl_has(acl: &[AclEntry], grantee: &str, privilege: &str) -> bool {
    acl.iter()
        .any(|(g, p)| g.as_deref() == Some(grantee) && p == privilege)
}

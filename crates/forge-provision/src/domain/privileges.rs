//! Privilege keywords per object kind, as the spec spells them and as
//! `aclexplode()` reports them. `ALL` in the spec expands to the full list.

use serde::Deserialize;
use std::fmt;

macro_rules! privileges {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $sql:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[serde(rename_all = "UPPERCASE")]
        pub enum $name {
            /// Every privilege of this kind.
            All,
            $($variant),+
        }

        impl $name {
            /// Every concrete privilege (what `ALL` means).
            pub const EVERY: &'static [$name] = &[$($name::$variant),+];

            /// The SQL keyword, as `aclexplode()` names it.
            pub fn as_sql(self) -> &'static str {
                match self {
                    $name::All => "ALL",
                    $($name::$variant => $sql),+
                }
            }

            /// Reads an `aclexplode()` privilege_type.
            pub fn from_sql(s: &str) -> Option<$name> {
                match s {
                    $($sql => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Expands `ALL`, sorts and dedupes.
            pub fn expand(list: &[$name]) -> Vec<$name> {
                let mut out: Vec<$name> = if list.contains(&$name::All) {
                    Self::EVERY.to_vec()
                } else {
                    list.to_vec()
                };
                out.sort();
                out.dedup();
                out
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_sql())
            }
        }
    };
}

privileges!(
    /// Privileges on a database.
    DatabasePrivilege { Connect => "CONNECT", Create => "CREATE", Temporary => "TEMPORARY" }
);
privileges!(
    /// Privileges on a schema.
    SchemaPrivilege { Usage => "USAGE", Create => "CREATE" }
);
privileges!(
    /// Privileges on tables (also views, materialized views, foreign tables).
    TablePrivilege {
        Select => "SELECT",
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Truncate => "TRUNCATE",
        References => "REFERENCES",
        Trigger => "TRIGGER",
    }
);
privileges!(
    /// Privileges on sequences.
    SequencePrivilege { Usage => "USAGE", Select => "SELECT", Update => "UPDATE" }
);

/// Joins privileges for a GRANT or REVOKE statement.
pub fn join<P: fmt::Display>(privileges: &[P]) -> String {
    privileges
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_sorts() {
        assert_eq!(
            SequencePrivilege::expand(&[SequencePrivilege::All]),
            SequencePrivilege::EVERY.to_vec()
        );
        assert_eq!(
            TablePrivilege::expand(&[
                TablePrivilege::Insert,
                TablePrivilege::Select,
                TablePrivilege::Select
            ]),
            vec![TablePrivilege::Select, TablePrivilege::Insert]
        );
        assert_eq!(
            TablePrivilege::from_sql("TRIGGER"),
            Some(TablePrivilege::Trigger)
        );
        assert_eq!(DatabasePrivilege::Temporary.as_sql(), "TEMPORARY");
    }
}
